"""The guide's "Comparing models" study is written in commands that knowit accepts as they stand."""
from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"


def _blocks(kind: str) -> list[str]:
    text = GUIDE.read_text()
    study = text[text.index("### A study, end to end"):]
    return re.findall(rf"```{kind}\n(.*?)```", study, re.S)


def test_the_study_commands_compose_validate_and_parse() -> None:
    from knowit.cli import _parser
    from knowit.config.compose import compose
    from knowit.config.run_config import validate
    from knowit.orchestrator import plan

    script = _blocks("bash")[0].replace("\\\n", " ")
    common = shlex.split(re.search(r'COMMON="(.*?)"', script, re.S).group(1))
    commands = [shlex.split(line) for line in script.splitlines() if line.startswith("python -m knowit")]
    assert [c[3] for c in commands] == ["train", "train", "compare", "backtest"]
    for command in commands:
        args = [a for a in command[3:] if a != "$COMMON"] + (common if "$COMMON" in command else [])
        if args[0] == "train":
            cfg = validate(compose(args[1:]))
            plan(cfg)
            assert cfg.root.repeats == 3 and cfg.data.out_chunk == [1, 6]
        else:
            _parser().parse_args(args)


def test_the_study_in_python_is_valid_code() -> None:
    ast.parse(_blocks("python")[0])
