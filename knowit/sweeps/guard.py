"""Sweep directory rules: no silent reuse of a sweep name; failed jobs leave a readable record."""
from __future__ import annotations

from pathlib import Path

from knowit.atomic_io import write_json
from knowit.config.run_config import RunConfig
from knowit.errors import KnowItRunError


def sweep_dir(cfg: RunConfig) -> Path:
    return cfg.exp_dir / "sweeps" / str(cfg.root.model_name)


def check_sweep_dir(cfg: RunConfig) -> None:
    path = sweep_dir(cfg)
    if path.exists() and any(path.iterdir()) and not cfg.root.overwrite:
        raise KnowItRunError(f"model_name: sweep {path} already exists; choose another model_name or pass overwrite=true")


def record_failed_job(run_path: Path | None, message: str) -> None:
    if run_path is not None:
        write_json(Path(run_path) / "summary.json", {"status": "failed", "error": message})
