"""The README's tour runs: every command of each block marked ``<!-- tour -->`` (bash lines and the
Python snippet), in order, in an empty directory, with ``KNOWIT_SMOKE=1`` shrinking every run."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- tour -->"


def tour_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of the fenced block right after each tour marker."""
    blocks = []
    for match in re.finditer(re.escape(MARKER) + r"\s*\n```(\w*)\n(.*?)\n```", text, re.S):
        blocks.append((match.group(1), match.group(2)))
    return blocks


def bash_steps(body: str) -> list[tuple[list[str], int]]:
    """Each command line as argv, with the exit code its comment promises (``exit code 2``), else 0."""
    steps = []
    for line in body.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        argv = shlex.split(line, comments=True)
        comment = line[line.index("#"):] if "#" in line else ""
        promised = re.search(r"exit code (\d+)", comment)
        steps.append((argv, int(promised.group(1)) if promised else 0))
    return steps


def test_the_tour_is_found_and_parsed() -> None:
    blocks = tour_blocks(README.read_text(encoding="utf-8"))
    assert [lang for lang, _ in blocks] == ["bash", "bash", "python"]
    steps = [step for lang, body in blocks if lang == "bash" for step in bash_steps(body)]
    assert all(argv[:3] == ["python", "-m", "knowit"] for argv, _ in steps)
    assert (["python", "-m", "knowit", "train", "trainer.max_epohs=5"], 2) in steps
    commands = [" ".join(argv[3:5]) for argv, _ in steps]
    # the user's own data: imported, trained on, predicted, in that order
    assert commands.index("import my_series.csv") < commands.index("train data=my_data") < commands.index("predict mine")


def _own_files(folder: Path) -> None:
    """The user's own files the tour names: an hourly series, a monthly table, an array archive."""
    rng = np.random.default_rng(0)
    n = 600
    a = np.sin(np.arange(n) / 9.0) + rng.normal(0, 0.1, n)
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=n, freq="h"), "a": a, "b": rng.normal(size=n)})
    frame["load"] = np.roll(a, 3) + 0.5 * frame["b"]
    frame.to_csv(folder / "my_series.csv", index=False)
    months = pd.date_range("2010-01-31", periods=120, freq="ME")
    pd.DataFrame({"month": months.strftime("%Y-%m-%d"), "price": rng.normal(10, 1, 120),
                  "demand": 100 + 10 * np.sin(np.arange(120) / 6.0)}).to_csv(folder / "monthly.csv", index=False)
    y = np.repeat(np.arange(3), 40)  # sorted by class, as archives often are
    y_test = np.repeat(np.arange(3), 10)
    x = rng.normal(size=(120, 8, 3)).astype(np.float32) + y[:, None, None]
    x_test = rng.normal(size=(30, 8, 3)).astype(np.float32) + y_test[:, None, None]
    np.savez(folder / "archive.npz", x=x, y=y, x_test=x_test, y_test=y_test)


def _real_process(argv: list[str], expected: int) -> bool:
    """Steps run as their own process: DDP (Lightning re-launches the command line it was started
    with) and the refused typo (the interpreter's exit code and stderr as a user sees them)."""
    return expected != 0 or any(a.startswith("trainer=ddp") for a in argv)


@pytest.mark.slow
def test_every_tour_line_runs_in_order(tmp_path: Path) -> None:
    """Every line, in order, in one fresh interpreter (``tests/readme_tour.py``): ``python -m knowit
    ...`` lines through ``knowit.cli.main`` with their output captured at the file descriptors,
    DDP and the typo as real processes, the Python snippet as a script."""
    _own_files(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("KNOWIT_EXP_DIR", "HYDRA_FULL_ERROR")}
    env["KNOWIT_SMOKE"] = "1"
    steps: list[tuple[list[str], int]] = []
    for lang, body in tour_blocks(README.read_text(encoding="utf-8")):
        if lang == "python":
            (tmp_path / "tour.py").write_text(body + "\n", encoding="utf-8")
            steps.append((["python", "tour.py"], 0))
        else:
            steps += bash_steps(body)
    plan = [{"argv": argv, "expected": expected, "real": _real_process(argv, expected)} for argv, expected in steps]
    assert sum(step["real"] for step in plan) == 2  # the DDP line and the typo
    (tmp_path / "steps.json").write_text(json.dumps(plan), encoding="utf-8")
    driver = subprocess.run([sys.executable, str(Path(__file__).with_name("readme_tour.py")), "steps.json", "results.json"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert driver.returncode == 0, driver.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    for (argv, expected), ran in zip(steps, results):
        assert ran["code"] == expected, f"{shlex.join(argv)} exited {ran['code']}:\n{ran['stderr'][-3000:]}"
        if expected:
            assert len(ran["stderr"].strip().splitlines()) == 1 and ran["stderr"].startswith("knowit: error: "), ran["stderr"]
    assert len(results) == len(steps)
    runs = tmp_path / "knowit_exp" / "models"
    assert (runs / "mine" / "predictions" / "test.parquet").is_file()  # the user's own data went all the way
    assert (runs / "my_lstm" / "interpretations").is_dir()


def test_smoke_setting_shrinks_every_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from knowit.config.compose import compose
    from knowit.config.run_config import validate

    overrides = ["trainer.max_epochs=20", "trainer.limit_val_batches=0", "trainer.limit_test_batches=1"]
    assert validate(compose(overrides)).trainer.max_epochs == 20
    monkeypatch.setenv("KNOWIT_SMOKE", "1")
    trainer = validate(compose(overrides)).trainer
    assert (trainer.max_epochs, trainer.limit_train_batches, trainer.limit_val_batches, trainer.limit_test_batches) == (1, 2, 0, 1)
