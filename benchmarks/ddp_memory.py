"""DDP memory: two processes started by ``torchrun`` against one process, on one stored series.

Both runs train the same tiny LSTM for a few batches on a ``steps x 8`` float32 series with a
512-step window (the chronological split's training rows are all read once, by the scaler fit).
The benchmark polls every process of a run from outside and sums them: PSS (proportional set
size: a page shared by two processes counts half in each, so shared pages are not counted
twice, as they are in RSS), and separately the PSS of the mapping of the store's ``values.npy``.
Measure: peak summed PSS of the two DDP processes against the single process's peak PSS.
Library memory (torch, Lightning: ~0.4 GiB private per process) is in both, so the ratio
approaches 1 only when the data outweighs it; the note gives the data mapping's share.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Result, at_most
from benchmarks.data_bench import COMPONENTS, write_store

FULL = {"steps": 80_000_000, "window": 512}
SMOKE = {"steps": 200_000, "window": 64}


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(c) for c in fh.read().split()]
    except OSError:
        return []


def _rollup(pid: int) -> dict[str, int]:
    """Pss and Rss of a process, in KiB."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                key = line.split(":", 1)[0]
                if key in ("Rss", "Pss"):
                    out[key] = int(line.split()[1])
    except OSError:
        return {}
    return out


def _mapping_pss(pid: int, name: str) -> int:
    """PSS (KiB) of the mappings of files called ``name`` in a process."""
    total, inside = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as fh:
            for line in fh:
                first = line.split(maxsplit=1)[0]
                if "-" in first and not first.endswith(":"):  # a mapping's header line
                    inside = line.rstrip().endswith("/" + name)
                elif inside and first == "Pss:":
                    total += int(line.split()[1])
    except OSError:
        return 0
    return total


def _run(command: list[str], launcher: bool, env: dict) -> dict[str, float]:
    """Peak summed PSS/RSS of the training processes (MiB) while ``command`` runs."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"pss": 0, "rss": 0, "data_pss": 0, "processes": 0}
    last_maps = 0.0
    while proc.poll() is None:
        pids = [c for c in _children(proc.pid)] if launcher else [proc.pid]
        rollups = [_rollup(p) for p in pids]
        peak["pss"] = max(peak["pss"], sum(r.get("Pss", 0) for r in rollups))
        peak["rss"] = max(peak["rss"], sum(r.get("Rss", 0) for r in rollups))
        peak["processes"] = max(peak["processes"], len(pids))
        if time.perf_counter() - last_maps > 0.5:
            peak["data_pss"] = max(peak["data_pss"], sum(_mapping_pss(p, "values.npy") for p in pids))
            last_maps = time.perf_counter()
        time.sleep(0.02)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"run failed: {err.strip().splitlines()[-3:]}")
    return {k: v / 1024 if k != "processes" else v for k, v in peak.items()}


def run(smoke: bool, rounds: int) -> list[Result]:
    size = SMOKE if smoke else FULL
    window = size["window"]
    with tempfile.TemporaryDirectory() as tmp:
        exp = Path(tmp) / "exp"
        raw_mib = write_store(exp, size["steps"], name="big") / 2**20
        common = [
            "trainer.accelerator=cpu", f"exp_dir={exp}", "data.name=big", f"data.in_components=[{','.join(f'c{i}' for i in range(COMPONENTS))}]",
            "data.out_components=[c0]", f"data.in_chunk=[{-(window - 1)},0]", "data.out_chunk=[1,1]", "data.batch_size=64",
            "arch=lstm", "arch.width=8", "arch.dropout=0.0", "trainer.max_epochs=1", "trainer.limit_train_batches=5",
            "trainer.limit_val_batches=5", "trainer.limit_test_batches=5", "trainer.progress_bar=false",
        ]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        single = _run([sys.executable, "-m", "knowit", "train", *common, "model_name=single"], False, env)
        ddp = _run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2", "-m", "knowit", "train",
                    "trainer=torchrun", *common, "model_name=ddp"], True, env)
    if ddp["processes"] != 2:
        raise RuntimeError(f"expected 2 DDP processes, saw {ddp['processes']}")
    return [at_most(
        "DDP: memory of 2 processes", "peak summed PSS (MiB), 2 DDP processes (torchrun) vs 1 process",
        ddp["pss"], single["pss"], 1.3,
        f"{size['steps']} steps x {COMPONENTS} float32 ({raw_mib:.0f} MiB), window {window}, store memory-mapped; "
        f"PSS of the mapped values.npy: {ddp['data_pss']:.0f} MiB summed over both DDP processes vs {single['data_pss']:.0f} MiB "
        f"in the single process (one copy, shared); summed RSS, which counts shared pages once per process: "
        f"{ddp['rss']:.0f} vs {single['rss']:.0f} MiB",
    )]
