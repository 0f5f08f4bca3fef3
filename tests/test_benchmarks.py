"""The benchmark harness runs end to end at tiny sizes (the full run is `python -m benchmarks.run`)."""
from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _from_benchmarks(module: str, *names: str) -> tuple:
    """``names`` from ``benchmarks.<module>``: the harness lives beside the package, not in it."""
    sys.path.insert(0, str(REPO))
    try:
        loaded = importlib.import_module(f"benchmarks.{module}")
    finally:
        sys.path.remove(str(REPO))
    return tuple(getattr(loaded, name) for name in names)

def test_smoke_run_writes_a_table_of_ratios(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--only", "lstm_train", "cnn_lstm_bench", "convlstm_bench", "compile_bench", "startup", "gpu_path", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ") and not line.startswith("| workload")]
    assert [r.split("|")[1].strip() for r in rows] == ["LSTM regression training", "LSTM regression training, like-for-like optimiser", "CNN-LSTM classification training (model_CL)", "CNN-LSTM classification training (small)", "ConvLSTM1D", "trainer.compile: mlp", "start-up", "start-up"]
    for row in rows[:-1]:  # every timed row: median (min-max) of each side over the interleaved rounds
        cells = [c.strip() for c in row.split("|")[3:8]]
        for cell in cells[:3]:
            median, low, high = (float(x) for x in re.fullmatch(r"([0-9.e+-]+) \(([0-9.e+-]+)-([0-9.e+-]+)\)", cell).groups())
            assert 0 <= low <= median <= high
        assert int(cells[3]) >= 2  # smoke rounds
        assert re.fullmatch(r"[0-9.]+( \([0-9.]+-[0-9.]+\))?", cells[4])  # the load average seen
    assert "load average (1 min) at start / end" in out.read_text()
    import torch

    if not torch.cuda.is_available():  # the GPU rows appear only where CUDA is; the note says so
        assert "Not measured: no GPU was available to this run." in out.read_text()


def test_config_error_is_reported_before_torch_is_imported() -> None:
    heavy_modules_after_config_error, = _from_benchmarks("startup", "heavy_modules_after_config_error")
    assert heavy_modules_after_config_error() == []


def test_alternate_interleaves_sides_and_compare_takes_the_median_round_ratio() -> None:
    alternate, compare = _from_benchmarks("common", "alternate", "compare")
    calls: list[str] = []
    knowit_values, baseline_values = iter([10.0, 30.0, 20.0, 40.0, 50.0]), iter([10.0, 10.0, 10.0, 10.0, 100.0])
    rounds = alternate(lambda: calls.append("k") or next(knowit_values), lambda: calls.append("b") or next(baseline_values), 5)
    assert calls == ["k", "b"] * 5
    row = compare("w", "m", rounds, 2.0)
    # Per-round ratios 1, 3, 2, 4, 0.5: median 2 (not median(knowit) / median(baseline) = 3).
    assert row.ratio == 2.0 and row.met and row.rounds == 5
    assert row.knowit == 30.0 and row.knowit_range == [10.0, 50.0] and row.baseline_range == [10.0, 100.0]
    assert row.ratio_range == [0.5, 4.0] and len(row.load) == 2


def test_alternate_many_calls_every_baseline_each_round_and_shares_knowit() -> None:
    alternate_many, = _from_benchmarks("common", "alternate_many")
    calls: list[str] = []
    values = iter(range(1, 100))
    first, second = alternate_many(lambda: calls.append("k") or next(values),
                                   [lambda: calls.append("a") or next(values), lambda: calls.append("b") or next(values)], 3)
    assert calls == ["k", "a", "b"] * 3
    assert first.knowit == second.knowit == [1, 4, 7]
    assert first.baseline == [2, 5, 8] and second.baseline == [3, 6, 9] and len(first.load) == 3


def test_full_run_refuses_fewer_than_five_rounds() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--rounds", "3", "--only", "startup"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "at least 5 interleaved rounds" in proc.stderr


def test_zoo_smoke_rows_compare_knowit_with_a_loop_around_the_same_module(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--smoke", "--only", "zoo_bench", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ") and not line.startswith("| workload")]
    assert [r.split("|")[1].strip() for r in rows] == ["mlp regression training", "mlp regression training, like-for-like optimiser"]
    for row in rows:
        knowit, baseline, ratio = (float(c.strip().split()[0]) for c in row.split("|")[3:6])
        assert knowit > 0 and baseline > 0 and ratio == pytest.approx(knowit / baseline, rel=0.5)
        assert row.split("|")[8].strip() == ">= 0.9"
