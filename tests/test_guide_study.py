"""The guide's "Comparing models" study is written in commands that knowit accepts and runs as they stand."""
from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

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


@pytest.mark.slow
def test_the_study_runs_as_written_shrunk_by_knowit_smoke(cli_main, tmp_path: Path, monkeypatch) -> None:
    """The bash block, line by line, in an empty folder (KNOWIT_SMOKE=1: one epoch of two batches
    per run, everything else as written); each command prints the blocks the guide shows."""
    monkeypatch.setenv("KNOWIT_SMOKE", "1")
    script = _blocks("bash")[0].replace("\\\n", " ")
    assert script.startswith("export KNOWIT_EXP_DIR=study\n")
    common = shlex.split(re.search(r'COMMON="(.*?)"', script, re.S).group(1))
    shown = {"train": ["baselines on ", "persistence ", "seasonal_persistence (m=24)", "over 3 repeats: mean ± std"],
             "compare": ["leaderboard on the test set", "skill vs persistence", "paired tests (Diebold-Mariano",
                         "lstm16 vs mlp32: statistic ", "saved: "],
             "backtest": ["backtest: 4 folds, expanding window, the trained model", "mae: mean ", "saved: "]}
    for line in script.splitlines():
        if not line.startswith("python -m knowit"):
            continue
        argv = [a for a in shlex.split(line)[3:] if a != "$COMMON"] + (common if "$COMMON" in line else [])
        out = cli_main(argv, cwd=tmp_path, exp_dir=Path("study"))
        assert out.returncode == 0, f"{line}\n{out.stderr[-2000:]}"
        for text in shown[argv[0]]:
            assert text in out.stdout, f"{line}: {text!r} not printed\n{out.stdout[-2000:]}"
    study = tmp_path / "study"
    assert (study / "comparisons" / "lstm16_vs_mlp32_test" / "error_differences.png").is_file()
    assert (study / "models" / "mlp32" / "rep-0" / "backtests" / "expanding-4folds" / "mae_per_fold.png").is_file()
