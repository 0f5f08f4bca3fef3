"""Load a trained run back: model, config, scalers and history — never unpickling anything."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from knowit.atomic_io import read_json
from knowit.config.run_config import RunConfig, validate_saved
from knowit.errors import KnowItRunError
from knowit.rundir import RunDir


@dataclass
class LoadedRun:
    run: RunDir
    cfg: RunConfig  # config.yaml, validated again as when the run started
    module: Any  # KnowItModule in eval mode
    checkpoint: Path
    scalers: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None

    @property
    def config(self) -> dict[str, Any]:
        """The run's config as plain containers (for users; knowit's own code reads ``cfg``)."""
        return self.cfg.to_dict()

    @property
    def model(self) -> torch.nn.Module:
        return self.module.model

    def predict(self, new_data: Any, *, apply_scaler: bool = True, descale_result: bool = True, probabilities: bool = False) -> Any:
        """Predict raw arrays ``(N, *input_dim)`` or a one-series DataFrame (see ``knowit.results.inference``)."""
        from knowit.results.inference import predict_new

        return predict_new(self, new_data, apply_scaler=apply_scaler, descale_result=descale_result, probabilities=probabilities)

    @property
    def history(self) -> list[dict[str, float]]:
        """The per-epoch rows of ``metrics.csv``."""
        from knowit.training.callbacks import read_history

        return read_history(self.run.metrics)

    @torch.no_grad()
    def predict_batch(self, x: torch.Tensor) -> torch.Tensor:
        """Model output for an already scaled input batch."""
        self.module.eval()
        return self.module(x)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)``; a damaged or unsafe file is a KnowItRunError."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - every failure here means the file cannot be trusted
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise KnowItRunError(f"checkpoint: {path} cannot be loaded safely: {first}") from None


def module_from_checkpoint(path: Path):
    from knowit.training.module import KnowItModule

    ckpt = read_checkpoint(path)
    hparams = ckpt.get("hyper_parameters")
    if not isinstance(hparams, dict) or "arch_module" not in hparams:
        raise KnowItRunError(f"checkpoint: {path} is not a knowit checkpoint (no architecture hyperparameters)")
    module = KnowItModule(**hparams)
    try:
        module.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0]
        raise KnowItRunError(f"checkpoint: {path} does not fit its architecture: {first}") from None
    return module.eval()


def load_run(path: Path, *, checkpoint: str = "best") -> LoadedRun:
    run = RunDir(Path(path))
    cfg = validate_saved(run.read_config(), run.config)
    summary = run.read_summary()
    if checkpoint == "best":
        ckpt = run.best_checkpoint() or (run.last_checkpoint if run.last_checkpoint.is_file() else None)
    elif checkpoint == "last":
        ckpt = run.last_checkpoint
    else:
        ckpt = Path(checkpoint)
    if ckpt is None or not ckpt.is_file():
        if (summary or {}).get("repeats"):
            raise KnowItRunError(f"run_dir: {run.path} holds {summary['repeats']} repeats; load one of them: {run.path / 'rep-0'}")
        status = (summary or {}).get("status", "unknown")
        raise KnowItRunError(f"run_dir: {run.path} has no checkpoint to load (run status: {status})")
    scalers = read_json(run.scalers) if run.scalers.is_file() else {}
    return LoadedRun(run=run, cfg=cfg, module=module_from_checkpoint(ckpt), checkpoint=ckpt, scalers=scalers, summary=summary)
