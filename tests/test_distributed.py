"""DDP sharding and outside launchers: every rank serves its own points (collected from two real
gloo processes), contiguous batches shard by streams, and torchrun's two ranks train one run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from knowit.data.sampling import ContiguousBatchSampler, PointBatchSampler
from tests.conftest import TESTS_DIR

BATCH = 16


def _data_cfg(sampling: str):
    from knowit.config.schema import DataConfig

    return DataConfig(name="synth_regression", in_components=["x1", "x2"], out_components=["y1"], in_chunk=[-7, 0],
                      out_chunk=[0, 0], batch_size=BATCH, batch_sampling=sampling)


def _serve_all(rank: int, world: int, exp_dir: str, init_file: str, out: str) -> None:
    """One of ``world`` gloo processes: every batch (point ids, reset flags) of two training epochs
    and of the validation set, per sampling, gathered on rank 0 and written to ``out``."""
    import torch.distributed as dist

    from knowit.data.datamodule import KnowItDataModule

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    served: dict[str, list] = {}
    for sampling in ("random", "contiguous"):
        dm = KnowItDataModule(_data_cfg(sampling), exp_dir, seed=3)
        for epoch in (0, 1):
            loader = dm.train_dataloader()
            loader.sampler.set_epoch(epoch)
            served[f"{sampling}/train/{epoch}"] = [
                (b["point"].tolist(), b["reset"].tolist() if "reset" in b else None) for b in loader
            ]
        served[f"{sampling}/valid"] = [(b["point"].tolist(), b["reset"].tolist() if "reset" in b else None) for b in dm.val_dataloader()]
        served[f"{sampling}/all_train"] = dm.prepared.set_points("train").tolist()
        served[f"{sampling}/all_valid"] = dm.prepared.set_points("valid").tolist()
    gathered: list = [None] * world
    dist.all_gather_object(gathered, served)
    if rank == 0:
        Path(out).write_text(json.dumps(gathered))
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def served_by_two_processes(tmp_path_factory) -> list[dict]:
    import knowit.data.datamodule  # noqa: F401 - imported once here, inherited by the forked processes
    from knowit.data.builtin import ensure_builtin
    from knowit.data.store import DatasetStore

    tmp = tmp_path_factory.mktemp("ddp")
    exp_dir = tmp / "exp"
    ensure_builtin(DatasetStore(exp_dir), "synth_regression")
    out = tmp / "served.json"
    # fork: the children start with torch and knowit imported (spawn re-imports them: ~10x slower here)
    torch.multiprocessing.start_processes(
        _serve_all, args=(2, str(exp_dir), str(tmp / "init"), str(out)), nprocs=2, start_method="fork"
    )
    return json.loads(out.read_text())


def _points(batches: list) -> list[int]:
    return [p for points, _ in batches for p in points]


@pytest.mark.parametrize("sampling", ["random", "contiguous"])
def test_two_processes_never_serve_a_point_twice(served_by_two_processes, sampling):
    ranks = served_by_two_processes
    for epoch in (0, 1):
        key = f"{sampling}/train/{epoch}"
        per_rank = [_points(r[key]) for r in ranks]
        together = per_rank[0] + per_rank[1]
        assert len(together) == len(set(together)), "a point was served twice in one epoch"
        assert set(together) <= set(ranks[0][f"{sampling}/all_train"])
        # Training: the same number of steps on every process (each step synchronises gradients).
        assert len(ranks[0][key]) == len(ranks[1][key]) > 0
        if sampling == "random":  # all points but those that cannot fill a last round of batches
            assert len(ranks[0]["random/all_train"]) - len(together) < 2 * BATCH
    valid = [_points(r[f"{sampling}/valid"]) for r in ranks]
    assert len(valid[0]) > 0 and len(valid[1]) > 0 and not set(valid[0]) & set(valid[1])
    if sampling == "random":  # evaluation: every point, exactly once
        assert sorted(valid[0] + valid[1]) == sorted(ranks[0]["random/all_valid"])


def test_contiguous_batches_shard_by_streams(served_by_two_processes):
    """Row i of every batch of a process continues that process's stream i (window-length steps,
    reset only at a slice boundary or the start), and the two processes walk different streams."""
    stride = 8
    for rank in served_by_two_processes:
        batches = rank["contiguous/train/0"]
        assert all(reset for reset in batches[0][1])
        for (before, _), (points, reset) in zip(batches, batches[1:]):
            assert len(points) <= len(before)
            for i, p in enumerate(points):
                assert reset[i] or p - before[i] == stride
            assert sum(reset) < len(points)  # mostly continuing streams
    starts = [set(r["contiguous/train/0"][0][0]) for r in served_by_two_processes]
    assert not starts[0] & starts[1]


def test_samplers_in_one_process_match_the_single_process_order():
    """world=1 keeps the single-process batches; the shards of world=2 partition them (random
    sampling) or the streams (contiguous), checked without processes for many sizes."""
    for n in (1, 5, 31, 32, 33, 100):
        one = [list(b) for b in PointBatchSampler(n, 8, shuffle=True, seed=0)]
        two = [[list(b) for b in PointBatchSampler(n, 8, shuffle=True, seed=0, rank=r, world=2)] for r in (0, 1)]
        assert sorted(sum(two[0] + two[1], [])) == sorted(sum(one, []))
        even = [[list(b) for b in PointBatchSampler(n, 8, shuffle=True, seed=0, rank=r, world=2, even=True)] for r in (0, 1)]
        assert len(even[0]) == len(even[1]) >= 1 and all(len(b) for b in even[0] + even[1])
        rows = np.arange(n) * 2
        for vary in (False, True):
            grid = [list(ContiguousBatchSampler(rows, np.zeros(n, int), 4, stride=1, vary_phase=vary, rank=r, world=2, even=True)) for r in (0, 1)]
            assert len(grid[0]) == len(grid[1]) >= 1
            served = [p for g in grid for positions, _ in g for p in positions]
            if n >= 2:
                assert len(served) == len(set(served))


@pytest.mark.slow
def test_torchrun_two_processes_train_one_run_directory(tmp_path):
    """``torchrun --nnodes 1 --nproc-per-node 2``: both ranks train a stateful LSTM on contiguous
    batches (sharded by streams), one run directory holds rank 0's artefacts only."""
    exp_dir = tmp_path / "exp"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR.parent), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2", "-m", "knowit", "train",
               "trainer=torchrun", "trainer.accelerator=cpu", f"exp_dir={exp_dir}", "model_name=tr", "arch.width=8",
               "arch.internal_state.tracking=true", "data.batch_sampling=contiguous", "data.batch_size=32",
               "trainer.max_epochs=2", "trainer.limit_val_batches=2", "trainer.limit_test_batches=2"]
    out = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("run directory:") == 1  # rank 0 reports, rank 1 stays quiet
    assert out.stdout.count("model: lstm") == 1, out.stdout  # also before the ranks agree on the run directory
    assert [p.name for p in (exp_dir / "models").iterdir()] == ["tr"]
    run_dir = exp_dir / "models" / "tr"
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "config.yaml", "metrics.csv", "predictions", "scalers.json", "summary.json", "visualizations"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 2
    # Each process walks its own block of 32 streams: the steps per epoch of a 2-process shard.
    from knowit.data.datamodule import KnowItDataModule
    from knowit.config.run_config import validate
    from knowit.config.compose import compose

    cfg = validate(compose([f"exp_dir={exp_dir}", "data.batch_sampling=contiguous", "data.batch_size=32"]))
    dm = KnowItDataModule(cfg.data, exp_dir, cfg.seed)
    rows = dm.prepared.set_points("train")
    shard = ContiguousBatchSampler(rows, dm.prepared.slice_of(rows), 32, stride=16, vary_phase=True, rank=0, world=2, even=True)
    single = ContiguousBatchSampler(rows, dm.prepared.slice_of(rows), 32, stride=16, vary_phase=True)
    steps = []
    for epoch in (0, 1):
        shard.set_epoch(epoch)
        steps.append(len(shard))
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["global_step"] == sum(steps) and sum(steps) < 2 * len(single)



def _steps_with_own_states(rank: int, world: int, init_file: str, out: str) -> None:
    """One of two gloo processes: a KnowItModule LSTM with tracking, under DDP, takes three steps
    on its own inputs, the second on a partial batch on rank 1 (5 rows, the last batch of a shard),
    and records the carried state at the start and the end of each forward."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from knowit.training.module import KnowItModule

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(0)
    module = KnowItModule("knowit.default_archs.lstm", {"width": 4, "internal_state": {"tracking": True}}, [6, 2], [1, 1],
                          "regression", "mse_loss", ["mae"], target_scaling={"shift": [0.0], "scale": [2.0]})
    state = next(m for m in module.modules() if type(m).__name__ == "InternalState")
    starts, ends = [], []
    module.model.register_forward_pre_hook(lambda *_: starts.append(None if state.h0 is None else state.h0.clone()))
    ddp = DistributedDataParallel(module)
    for rows in (8, (8, 5)[rank], 8):
        ddp(torch.full((rows, 6, 2), float(rank + 1))).sum().backward()  # each forward after the first syncs DDP's buffers
        ends.append(state.h0.clone())
    # the carried state each forward starts from is the one this rank's previous forward left
    own = [bool(torch.equal(start[:, : len(end[0])], end[:, : start.shape[1]])) for start, end in zip(starts[1:], ends[:-1])]
    gathered: list = [None] * world
    dist.all_gather_object(gathered, {"own": own, "ignored": sorted(module._ddp_params_and_buffers_to_ignore)})
    if rank == 0:
        Path(out).write_text(json.dumps(gathered))
    dist.barrier()
    dist.destroy_process_group()
    # Leave without tearing DDP's reducer down: its gloo group's destructor joined a worker thread
    # that never ended once (a fresh-clone suite hung there); the result is written already.
    os._exit(0)


def test_ddp_keeps_each_process_carried_states_its_own(tmp_path):
    """DDP broadcasts rank 0's buffers before every training forward. An LSTM's carried states
    were buffers: rank 1 continued from rank 0's states, and when the ranks' batches differed in
    size (a shard's partial last batch) gloo aborted the run ("Received data size doesn't match").
    Buffers registered empty (per-process states) are left out of that broadcast."""
    import knowit.training.module  # noqa: F401 - imported once here, inherited by the forked processes

    out = tmp_path / "states.json"
    processes = torch.multiprocessing.start_processes(
        _steps_with_own_states, args=(2, str(tmp_path / "init"), str(out)), nprocs=2, start_method="fork", join=False
    )
    deadline = time.monotonic() + 120
    while not processes.join(timeout=5):
        if time.monotonic() > deadline:
            for process in processes.processes:
                process.kill()
            pytest.fail("the two gloo processes did not finish within 120 s")
    ranks = json.loads(out.read_text())
    assert [r["own"] for r in ranks] == [[True, True], [True, True]]
    assert ranks[0]["ignored"] == ["model._internal.c0", "model._internal.h0"]


def test_lightning_ddp_start_up_lines_stay_out_of_the_output():
    """``trainer=ddp_cpu`` printed Lightning's "Initializing distributed: GLOBAL_RANK: 1, MEMBER:
    2/2", one line per rank, between the model line and the first epoch."""
    import logging

    from knowit.training.trainer import quiet_lightning

    quiet_lightning()
    assert not logging.getLogger("lightning_fabric.utilities.distributed").isEnabledFor(logging.INFO)
