"""The command-line door, run for real in subprocesses."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import TINY_ARCH, TINY_OVERRIDES, run_cli, tree_digest

TRAIN = ["train", f"arch.name={TINY_ARCH}", *TINY_OVERRIDES]


def test_help_lists_subcommands(tmp_path: Path) -> None:
    out = run_cli(["--help"], cwd=tmp_path)
    assert out.returncode == 0
    for command in ("train", "datasets", "archs"):
        assert command in out.stdout


def test_train_prints_run_dir_and_metrics(tmp_path: Path, exp_dir: Path) -> None:
    out = run_cli([*TRAIN, "model_name=cli_run"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0, out.stderr
    run = exp_dir / "models" / "cli_run"
    assert f"run directory: {run}" in out.stdout
    assert "valid_loss" in out.stdout and "test_loss" in out.stdout
    assert "warning" not in out.stderr.lower(), out.stderr  # a clean run on built-in data: nothing to warn about
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


def test_config_error_is_one_line_exit_2_without_traceback(tmp_path: Path, exp_dir: Path) -> None:
    before = tree_digest(exp_dir)
    for bad, key in (("trainer.max_epohs=2", "trainer.max_epohs"), ("arch=nosuch", "arch"), ("trainer.learning_rate=-1", "trainer.learning_rate")):
        out = run_cli([*TRAIN, bad], cwd=tmp_path, exp_dir=exp_dir)
        assert out.returncode == 2, (bad, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert lines[0].startswith(f"knowit: error: {key}:"), lines[0]
        assert "Traceback" not in out.stderr
    assert tree_digest(exp_dir) == before


def test_debug_flag_shows_traceback(tmp_path: Path, exp_dir: Path) -> None:
    out = run_cli([*TRAIN, "trainer.max_epohs=2", "--debug"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_multirun_gives_each_job_its_own_directory(tmp_path: Path, exp_dir: Path) -> None:
    out = run_cli([*TRAIN, "-m", "arch.hidden=4,8", "model_name=sw"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0, out.stderr
    jobs = sorted(p for p in (exp_dir / "sweeps" / "sw").iterdir() if p.name.isdigit() and (p / "summary.json").exists())
    assert [p.name for p in jobs] == ["0", "1"]
    widths = [json.loads((p / "summary.json").read_text())["n_parameters"] for p in jobs]
    assert widths[0] < widths[1]  # the jobs really ran different configs


def test_import_warning_is_one_knowit_line_without_source(tmp_path: Path, exp_dir: Path) -> None:
    """A newcomer's first CSV with a missing value: the warning about dropped rows reads as one
    `knowit: warning:` line, not a source path followed by a line of knowit's code."""
    rows = ["date,units"] + [f"2020-{m:02d}-01,{'' if m == 6 else 1000 + m}" for m in range(1, 13)]
    (tmp_path / "sales.csv").write_text("\n".join(rows) + "\n")
    out = run_cli(["import", "sales.csv", "--name", "sales", "--time-column", "date", "--min-rows", "2"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0, out.stderr
    warned = [line for line in out.stderr.splitlines() if "dropped 1 row with a missing value" in line]
    assert warned and warned[0].startswith("knowit: warning: dataset 'sales': dropped 1 row with a missing value"), out.stderr
    assert "importing.py" not in out.stderr and "UserWarning" not in out.stderr, out.stderr
