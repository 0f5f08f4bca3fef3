"""The docs stay true: the config reference is generated from the schemas, and guarantees in
docs/reliability.md point at tests that exist."""
from __future__ import annotations

import re
from pathlib import Path

from knowit.config.reference import reference, sections

ROOT = Path(__file__).resolve().parents[1]


def test_config_reference_matches_the_schemas() -> None:
    text = (ROOT / "docs" / "config_reference.md").read_text()
    assert text == reference(), "docs/config_reference.md is stale: python -m knowit.config.reference > docs/config_reference.md"


def test_every_schema_key_is_documented_with_a_meaning() -> None:
    text = (ROOT / "docs" / "config_reference.md").read_text()
    keys = [(key, meaning) for _, _, entries in sections() for key, _, _, meaning in entries]
    assert len(keys) > 100
    for key, meaning in keys:
        assert f"| `{key}` |" in text, key
        assert meaning.strip(), f"{key} has no meaning: add a comment on its schema line"


def test_reliability_guarantees_point_at_existing_tests() -> None:
    text = (ROOT / "docs" / "reliability.md").read_text()
    refs = re.findall(r"`(tests/[\w/]+\.py)::(\w+)", text)
    assert len(refs) >= 10
    for path, name in refs:
        source = (ROOT / path).read_text()
        assert re.search(rf"^def {name}\(", source, re.M), f"{path}::{name} does not exist"
