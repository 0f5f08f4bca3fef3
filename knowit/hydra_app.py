"""The Hydra application behind ``python -m knowit train`` (single runs and multirun sweeps)."""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from knowit.errors import KnowItError, os_errors_as_run_errors

_DEBUG = False


def format_metrics(metrics: dict[str, float]) -> str:
    if not metrics:
        return "  (no metrics)"
    width = max(len(k) for k in metrics)
    return "\n".join(f"  {k:<{width}}  {v:.6g}" for k, v in sorted(metrics.items()))


def _job(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from knowit.config.run_config import validate
    from knowit.orchestrator import train_model

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    run_path = Path(hc.runtime.output_dir) if multirun else None
    try:
        rc = validate(OmegaConf.to_container(cfg, resolve=True))
        with os_errors_as_run_errors():
            result = train_model(rc, run_path=run_path, and_viz=True)
    except KnowItError as err:
        if _DEBUG:
            raise
        print(f"knowit: error: {err}", file=sys.stderr)
        if not multirun:
            sys.exit(2)
        from knowit.sweeps.guard import record_failed_job

        record_failed_job(run_path, str(err))
        return math.nan
    if result.status == "worker":  # a DDP worker process: rank 0 reports
        return None
    print(f"\nrun directory: {result.run_dir}\nstatus: {result.status}\nparameters: {result.n_parameters:,}\n{format_metrics(result.metrics)}")
    metric = rc.root.optimized_metric
    return result.metrics.get(metric) if metric else None


@hydra.main(config_path="pkg://knowit.conf", config_name="config", version_base="1.3")
def _hydra_entry(cfg: DictConfig) -> Any:
    return _job(cfg)


def run_hydra(argv: list[str], *, debug: bool = False) -> int:
    global _DEBUG
    _DEBUG = debug
    saved = sys.argv
    sys.argv = ["knowit train", *argv]
    try:
        _hydra_entry()
    finally:
        sys.argv = saved
    return 0
