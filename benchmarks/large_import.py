"""Larger than memory: a series 1.5x the machine's free RAM, imported in batches and trained on.

``python -m benchmarks.large_import [--factor 1.5] [--dir DIR] [--train-batches 200]``

1. A Parquet file of 8-bit sensor readings (``components`` float32 columns with 256 levels, so
   Parquet's dictionary encoding keeps the file at about a byte per value) is written row group
   by row group, until the float32 series it holds is ``factor`` times the free memory
   (``MemFree`` of /proc/meminfo, what ``free`` calls free). It has no time column: rows are
   numbered, one step apart.
2. ``python -m knowit import`` reads it in record batches and writes the store (``values.npy``
   is then ``factor`` x free RAM on disk). Wall time, rows/s and the peak memory of the process
   are recorded (polled from /proc every 10 ms: ``VmHWM`` — resident pages, mapped file pages
   included — and the largest ``RssAnon`` seen, its private memory).
3. ``python -m knowit train`` on it: a small LSTM, window 32, memory-mapped store. An epoch over
   every window of a series this long does not fit a benchmark on a 2-core machine, so the
   epoch is cut to ``train_batches`` batches (``trainer.limit_train_batches``); what is whole
   is the preparation of the full series (split, chunked scaler statistics over every training
   row, window sets). Wall time and peak memory as above.
4. Everything written is removed.

Not part of ``benchmarks.run``: it writes tens of GB and takes most of an hour here.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COMPONENTS = 16
GROUP_ROWS = 1 << 21  # rows per Parquet row group written


def meminfo_bytes(key: str) -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def write_parquet(path: Path, rows: int, seed: int = 0) -> None:
    """``rows`` x COMPONENTS float32 readings of 256 levels each: one row group of GROUP_ROWS rows
    is made once and written again and again (the series repeats every GROUP_ROWS rows; making
    each group anew would take longer than the import being measured)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    levels = (np.arange(256, dtype=np.float32) - 128) / 16  # an 8-bit converter's steps
    rng = np.random.default_rng(seed)
    schema = pa.schema([(f"c{j}", pa.float32()) for j in range(COMPONENTS)])
    phase = np.arange(GROUP_ROWS) * (2 * np.pi / 4096)
    base = (np.sin(phase) * 96 + 128).astype(np.int16)
    codes = np.clip(base[:, None] + rng.integers(-16, 17, size=(GROUP_ROWS, COMPONENTS), dtype=np.int16), 0, 255)
    group = pa.table({f"c{j}": levels[codes[:, j]] for j in range(COMPONENTS)}, schema=schema)
    with pq.ParquetWriter(path, schema, compression="none", use_dictionary=True) as writer:
        for start in range(0, rows, GROUP_ROWS):
            n = min(GROUP_ROWS, rows - start)
            writer.write_table(group.slice(0, n), row_group_size=n)


def watch(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``cmd``; its wall time, peak VmHWM and peak RssAnon (GiB), exit code and last stderr lines."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    hwm = anon = 0
    loads = []
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
                    elif line.startswith("RssAnon:"):
                        anon = max(anon, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            pass
        if not loads or time.perf_counter() - start > 30 * len(loads):
            loads.append(os.getloadavg()[0])
        time.sleep(0.01)
    out, err = proc.communicate()
    return {"wall_s": time.perf_counter() - start, "peak_rss_gib": hwm / 2**20, "peak_anon_gib": anon / 2**20,
            "rc": proc.returncode, "load_min": min(loads), "load_max": max(loads),
            "stdout": out[-2000:], "stderr": err[-3000:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=float, default=1.5)
    parser.add_argument("--dir", default=None, help="where to write (default: a temporary folder under /tmp)")
    parser.add_argument("--train-batches", type=int, default=200)
    parser.add_argument("--rows", type=int, default=None, help="rows to write instead of factor x free RAM (a dry run)")
    ns = parser.parse_args(argv)

    free = meminfo_bytes("MemFree")
    rows = ns.rows or int(ns.factor * free / (4 * COMPONENTS))
    root = Path(tempfile.mkdtemp(prefix="knowit_large_", dir=ns.dir))
    report: dict[str, object] = {"free_ram_gib": free / 2**30, "total_ram_gib": meminfo_bytes("MemTotal") / 2**30,
                                 "rows": rows, "components": COMPONENTS, "series_gib": rows * COMPONENTS * 4 / 2**30}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        source = root / "sensors.parquet"
        t0 = time.perf_counter()
        write_parquet(source, rows)
        report["write_s"] = time.perf_counter() - t0
        report["parquet_gib"] = source.stat().st_size / 2**30
        print(json.dumps(report), flush=True)
        exp = root / "exp"
        imp = watch([sys.executable, "-m", "knowit", "import", str(source), "--name", "big", "--exp-dir", str(exp)], env)
        report["import"] = {**imp, "rows_per_s": rows / imp["wall_s"]}
        print(json.dumps(report["import"]), flush=True)
        source.unlink()  # room on the disk for training
        if imp["rc"] == 0:
            report["values_gib"] = (exp / "datasets" / "big" / "values.npy").stat().st_size / 2**30
            overrides = [
                "data.name=big", "data.in_components=[c1,c2,c3,c4,c5,c6,c7]", "data.out_components=[c0]",
                "data.in_chunk=[-31,0]", "data.out_chunk=[1,1]", "data.batch_size=256", "arch=lstm", "arch.width=16", "arch.dropout=0.0",
                "trainer.max_epochs=1", f"trainer.limit_train_batches={ns.train_batches}", "trainer.limit_val_batches=20",
                "trainer.limit_test_batches=20", "trainer.accelerator=cpu", "trainer.progress_bar=false",
            ]
            train = watch([sys.executable, "-m", "knowit", "train", "model_name=big_run", f"exp_dir={exp}", *overrides], env)
            report["train"] = train
            print(json.dumps(train), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report["removed"] = not root.exists()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
