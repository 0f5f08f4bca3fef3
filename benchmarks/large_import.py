"""Larger than memory: a series 1.5x the machine's free RAM, imported in batches and trained on for one epoch.

``python -m benchmarks.large_import [--factor 1.5] [--dir DIR] [--rows N] [--probe-batches 20]``

1. A Parquet file of 8-bit sensor readings (``components`` float32 columns with 256 levels, so
   Parquet's dictionary encoding keeps the file at about a byte per value) is written row group
   by row group, until the float32 series it holds is ``factor`` times the free memory
   (``MemFree`` of /proc/meminfo, what ``free`` calls free). It has no time column: rows are
   numbered, one step apart.
2. ``python -m knowit import`` reads it in record batches and writes the store (``values.npy``
   is then ``factor`` x free RAM on disk). Wall time, rows/s and the peak memory of the process
   are recorded (polled from /proc every 10 ms: ``VmHWM`` — resident pages, mapped file pages
   included — and the largest ``RssAnon`` seen, its private memory).
3. A read probe on the mapped store, each side starting with the file's pages dropped from the
   page cache (``posix_fadvise(DONTNEED)``): batches of windows at points shuffled one by one
   (``probe_batches`` batches: each window is a random disk read) against points shuffled in
   blocks (``data.shuffle_block``; one pool of blocks, whose reads are long runs). ms per batch.
4. ``python -m knowit train`` on it, one whole epoch: what someone with such data would run
   first: a small MLP over a short window (8 rows of 7 components, predicting the next row's
   ``c0``), batches of 8192, ``data.shuffle_block=65536``. Every training point is served once;
   validation runs over the whole validation set; the test evaluation and its predictions are
   cut to ``test_batches`` batches (predictions of ~90M points would be a file of their own).
   Wall time, batches run (the checkpoint's ``global_step``), the epoch's time and peak memory.
5. Everything written is removed (also on Ctrl-C / SIGTERM).

Not part of ``benchmarks.run``: it writes tens of GB and takes most of an hour here.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COMPONENTS = 16
GROUP_ROWS = 1 << 21  # rows per Parquet row group written
BATCH = 8192  # training batch (windows)
WINDOW = 8  # input rows per window
BLOCK = 65536  # data.shuffle_block: consecutive points shuffled together (4 MiB of rows)


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


def watch(cmd: list[str], env: dict[str, str], logs: Path) -> dict[str, float]:
    """Run ``cmd``; its wall time, peak VmHWM and peak RssAnon (GiB), exit code and last output lines.
    Its output goes to files under ``logs`` (a pipe nobody reads while polling would fill and stop it)."""
    start = time.perf_counter()
    with open(logs / "stdout.txt", "w") as out, open(logs / "stderr.txt", "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        try:
            result = _watched(proc, start)
        finally:
            if proc.poll() is None:  # interrupted: the child goes too, before its files are removed
                proc.kill()
                proc.wait()
    return {**result, "stdout": (logs / "stdout.txt").read_text()[-2000:], "stderr": (logs / "stderr.txt").read_text()[-3000:]}


def _watched(proc: subprocess.Popen, start: float) -> dict[str, float]:
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
    return {"wall_s": time.perf_counter() - start, "peak_rss_gib": hwm / 2**20, "peak_anon_gib": anon / 2**20,
            "rc": proc.returncode, "load_min": min(loads), "load_max": max(loads)}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def read_probe(values_path: Path, batches: int, block: int | None, seed: int = 0) -> dict[str, float]:
    """ms per batch of BATCH windows (WINDOW rows, every column) gathered from the mapped store, with
    the file's pages dropped from the page cache first; points in the order the training sampler
    serves them (``block`` None: shuffled one by one)."""
    from knowit.data.sampling import POOL_BLOCKS, PointBatchSampler
    from knowit.data.windows import window_rows

    fd = os.open(values_path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    values = np.load(values_path, mmap_mode="r")
    windows = window_rows(values, np.arange(WINDOW))
    if block:  # one whole pool: its reads are what an epoch pays per pool
        batches = POOL_BLOCKS * block // BATCH
    order = iter(PointBatchSampler(len(windows), BATCH, shuffle=True, seed=seed, block=block))
    points = next(order)  # the shuffle itself is not a read: the clock starts after it
    start = time.perf_counter()
    served = 0
    while points is not None and served < batches:
        windows[points].sum()  # a fresh copy of each window, as a batch gather makes
        served += 1
        points = next(order, None)
    wall = time.perf_counter() - start
    return {"batches": served, "ms_per_batch": 1e3 * wall / served, "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=float, default=1.5)
    parser.add_argument("--dir", default=None, help="where to write (default: a temporary folder under /tmp)")
    parser.add_argument("--rows", type=int, default=None, help="rows to write instead of factor x free RAM (a dry run)")
    parser.add_argument("--probe-batches", type=int, default=20, help="batches of point-shuffled reads in the probe (0: no probe)")
    parser.add_argument("--test-batches", type=int, default=50)
    ns = parser.parse_args(argv)

    free = meminfo_bytes("MemFree")
    rows = ns.rows or int(ns.factor * free / (4 * COMPONENTS))
    root = Path(tempfile.mkdtemp(prefix="knowit_large_", dir=ns.dir))
    report: dict[str, object] = {"free_ram_gib": free / 2**30, "total_ram_gib": meminfo_bytes("MemTotal") / 2**30,
                                 "rows": rows, "components": COMPONENTS, "series_gib": rows * COMPONENTS * 4 / 2**30}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # SIGTERM (a timeout) would skip the ``finally`` below: make it an exception that runs it.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        source = root / "sensors.parquet"
        t0 = time.perf_counter()
        write_parquet(source, rows)
        report["write_s"] = time.perf_counter() - t0
        report["parquet_gib"] = source.stat().st_size / 2**30
        print(json.dumps(report), flush=True)
        exp = root / "exp"
        imp = watch([sys.executable, "-m", "knowit", "import", str(source), "--name", "big", "--exp-dir", str(exp)], env, root)
        report["import"] = {**imp, "rows_per_s": rows / imp["wall_s"]}
        print(json.dumps(report["import"]), flush=True)
        source.unlink()  # room on the disk for training
        if imp["rc"] == 0:
            values = exp / "datasets" / "big" / "values.npy"
            report["values_gib"] = values.stat().st_size / 2**30
            if ns.probe_batches:
                report["probe"] = {"point_shuffle": read_probe(values, ns.probe_batches, None),
                                   "block_shuffle": read_probe(values, ns.probe_batches, BLOCK), "load": os.getloadavg()[0]}
                print(json.dumps(report["probe"]), flush=True)
            overrides = [
                "data.name=big", "data.in_components=[c1,c2,c3,c4,c5,c6,c7]", "data.out_components=[c0]",
                f"data.in_chunk=[-{WINDOW - 1},0]", "data.out_chunk=[1,1]", f"data.batch_size={BATCH}", f"data.shuffle_block={BLOCK}",
                "arch=mlp", "arch.depth=2", "arch.width=32", "arch.dropout=0.0", "arch.batchnorm=false",
                "trainer.max_epochs=1", f"trainer.limit_test_batches={ns.test_batches}", "trainer.accelerator=cpu",
                "trainer.progress_bar=false",
            ]
            train = watch([sys.executable, "-m", "knowit", "train", "model_name=big_run", f"exp_dir={exp}", *overrides], env, root)
            run = exp / "models" / "big_run"
            if (run / "summary.json").is_file():
                summary = json.loads((run / "summary.json").read_text())
                train.update(status=summary.get("status"), epoch_times=summary.get("epoch_times"), n_points=summary["data"]["n_points"],
                             expected_batches=-(-summary["data"]["n_points"]["train"] // BATCH), metrics=summary.get("metrics"))
            if (run / "checkpoints" / "last.ckpt").is_file():
                import torch

                train["batches_run"] = int(torch.load(run / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")["global_step"])
            report["train"] = train
            print(json.dumps(train), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report["removed"] = not root.exists()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
