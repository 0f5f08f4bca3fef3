"""The benchmark harness runs end to end at tiny sizes (the full run is `python -m benchmarks.run`)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_smoke_run_writes_a_table_of_ratios(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--only", "lstm_train", "cnn_lstm_bench", "convlstm_bench", "startup", "gpu_path", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ") and not line.startswith("| workload")]
    assert [r.split("|")[1].strip() for r in rows] == ["LSTM regression training", "CNN-LSTM classification training (model_CL)", "CNN-LSTM classification training (small)", "ConvLSTM1D", "start-up", "start-up"]
    for row in rows:
        knowit, baseline, ratio = (float(c) for c in row.split("|")[3:6])
        assert knowit >= 0 and baseline >= 0 and ratio >= 0
    assert re.search(r"training samples/s.*\| [0-9.e+]+ \| [0-9.e+]+ \| [0-9.]+ \|", out.read_text())
    import torch

    if not torch.cuda.is_available():  # the GPU rows appear only where CUDA is; the note says so
        assert "Not measured: no GPU was available to this run." in out.read_text()


def test_config_error_is_reported_before_torch_is_imported() -> None:
    sys.path.insert(0, str(REPO))
    try:
        from benchmarks.startup import heavy_modules_after_config_error
    finally:
        sys.path.remove(str(REPO))
    assert heavy_modules_after_config_error() == []
