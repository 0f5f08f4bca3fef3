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


def _readme_python() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README.md has no Python snippet"
    return "\n".join(blocks)


def test_readme_python_snippet_uses_only_names_it_defines() -> None:
    """A newcomer pastes the README's snippet as it is: every name it reads must be imported or
    assigned above its first use (a NameError is the first thing they would see)."""
    import ast
    import builtins

    defined = set(dir(builtins))
    undefined = []
    for stmt in ast.parse(_readme_python()).body:
        loads = [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
        undefined += [name for name in loads if name not in defined]
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    assert not undefined, f"README snippet reads undefined names: {sorted(set(undefined))}"
