"""Processes started by an outside launcher (``torchrun``, SLURM's ``srun``) agree on one run directory.

When Lightning starts the DDP workers itself (``trainer.strategy=ddp`` from one command), rank 0
hands its run directory down through the environment (``DDP_RUN_DIR_ENV``). A launcher instead
starts every rank as an independent copy of the command, so none of them inherits anything from
rank 0. They agree here, over the launcher's own rendezvous: the process group Lightning would
open anyway is opened a little earlier (Lightning reuses an initialised one), rank 0 claims the
run directory and broadcasts its path, or the reason it could not, to the others.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from knowit.errors import KnowItRunError


def launcher_environment():
    """Lightning's cluster environment when an outside launcher started this process as one of
    several (``torchrun``/torchelastic, or ``srun`` with more than one task), else None."""
    from lightning_fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    for env_cls in (TorchElasticEnvironment, SLURMEnvironment):
        if env_cls.detect():
            env = env_cls()
            if env.world_size() > 1:
                return env
    return None


def _handshake_group(env):
    """Open the process group Lightning would open (its backend: NCCL with GPUs, else gloo) and
    return a gloo group for the handshake (None: the default group is gloo already)."""
    import torch
    import torch.distributed as dist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        os.environ.setdefault("MASTER_ADDR", env.main_address)
        os.environ.setdefault("MASTER_PORT", str(env.main_port))
        dist.init_process_group(backend, rank=env.global_rank(), world_size=env.world_size())
    # A Python object travels as a CPU tensor; NCCL would need each rank's GPU chosen first.
    return None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")


def agree_on_run_dir(claim: Callable[[], Path]) -> tuple[Path, bool] | None:
    """``(run directory, owner)`` when an outside launcher started several ranks, else None.

    Rank 0 calls ``claim()`` (which takes the run directory or raises) and is the owner; every
    other rank gets the same path, writes nothing to it, and raises the same error if rank 0's
    claim failed.
    """
    env = launcher_environment()
    if env is None:
        return None
    import torch.distributed as dist

    group = _handshake_group(env)
    message: list[str | None] = [None, None]  # [path, error]
    error: BaseException | None = None
    if env.global_rank() == 0:
        try:
            message[0] = str(claim())
        except BaseException as err:  # noqa: BLE001 - re-raised below, after the others are told
            error, message[1] = err, str(err) or type(err).__name__
    dist.broadcast_object_list(message, src=0, group=group)
    if error is not None:
        raise error
    if message[1] is not None:
        raise KnowItRunError(f"rank 0 could not start the run: {message[1]}")
    return Path(message[0]), env.global_rank() == 0
