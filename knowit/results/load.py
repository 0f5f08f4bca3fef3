"""Load a trained run back: model, config, scalers and history — never unpickling anything."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

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

    def __repr__(self) -> str:
        arch, data = self.cfg.arch.name, self.cfg.data.name
        n_params = sum(p.numel() for p in self.module.model.parameters())
        status = (self.summary or {}).get("status", "unknown")
        return (f"LoadedRun({self.run.path.name!r}: {arch} on {data}, {n_params:,} parameters, {status}, "
                f"checkpoint {self.checkpoint.name}, run_dir={str(self.run.path)!r})")

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
    """``torch.load(weights_only=True)``; a damaged or unsafe file is a KnowItRunError whose
    reason is in words: torch's own message says ``[Errno 22]`` or ``EOFError`` for a truncated
    file and advises ``weights_only=False`` for any file it cannot read, which is the unsafe
    thing to do with a file of unknown origin."""
    import zipfile

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - every failure here means the file cannot be trusted
        text = str(err)
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if refused:
            reason = f"cannot be loaded safely: it holds {refused.group(1)}, which weights-only loading refuses; knowit never unpickles code"
        elif Path(path).is_file() and Path(path).stat().st_size == 0:
            reason = "cannot be loaded: the file is empty"
        elif Path(path).is_file() and not zipfile.is_zipfile(path):  # torch.save writes a zip archive; its index sits at the end
            reason = "cannot be loaded: the file is truncated or corrupted (not the zip archive torch.save writes)"
        else:
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            reason = f"cannot be loaded: {lines[0] if lines else type(err).__name__}"
        raise KnowItRunError(f"checkpoint: {path} {reason}") from None


# Hyperparameters that choose code: never taken from a checkpoint, always from the validated config.
# (A checkpoint's strings survive weights_only loading; importing one would run whatever it names.)
_DATA_HPARAMS = ("input_dim", "output_dim", "task", "class_names", "class_weights", "target_scaling")


def arch_to_import(run: RunDir, recorded: Any, arch: str | None) -> str:
    """The architecture a run is loaded with; the run folder alone never chooses code.

    A shipped architecture by name; a user's architecture only when the caller names it
    (``arch=`` / ``--arch``) or this process has already imported it (loading then runs no new
    code). Anything else would import a module a shared run folder chose.
    """
    if not isinstance(recorded, str) or not recorded:
        if arch is not None:
            return arch
        raise KnowItRunError(f"run_dir: {run.config} has no arch.name")
    return trusted_arch(recorded, arch, f"{run.path.name} was trained with")


def trusted_arch(recorded: str, arch: str | None, who: str) -> str:
    """``recorded`` (an arch name read from a run's or a sweep's files) if it is safe to import,
    else ``arch`` (named by the caller); otherwise one line saying how to name it."""
    from knowit import registry

    if arch is not None:
        return arch
    if registry.is_shipped(recorded) or registry.is_imported(recorded):
        return recorded
    raise KnowItRunError(
        f"arch.name: {who} the user architecture {recorded!r}; loading it imports and runs "
        f"that code, so name it yourself if you trust it: --arch {recorded} (CLI) or arch={recorded!r} (API)"
    )


def _exp_dir_of(run: RunDir, given: Path | None) -> Path | None:
    """Where the run's datasets live: the caller's experiment directory, else the one the run
    folder sits in (``<exp>/models/<name>``, ``<exp>/sweeps/<sweep>/<job>``), never a path
    read from the run's own config when its place says otherwise."""
    if given is not None:
        return Path(given)
    path = run.path.resolve()
    if path.parent.name == "models":
        return path.parent.parent
    if path.parent.parent.name == "sweeps":
        return path.parent.parent.parent
    return None


def run_config(run: RunDir, *, arch: str | None = None, exp_dir: Path | None = None):
    """The run's config.yaml, validated, with the architecture chosen by ``arch_to_import``."""
    raw = dict(run.read_config())
    node = raw.get("arch")
    if not isinstance(node, dict):
        raise KnowItRunError(f"run_dir: {run.config}: arch is not a mapping")
    raw["arch"] = {**node, "name": arch_to_import(run, node.get("name"), arch)}
    where = _exp_dir_of(run, exp_dir)
    if where is not None:
        raw["exp_dir"] = str(where)
    _refuse_code_from(run, where, raw.get("trainer"))
    return validate_saved(raw, run.config)


def _refuse_code_from(run: RunDir, exp_dir: Path | None, trainer: Any) -> None:
    """Dotted loss and metric names in a run's config.yaml are imported when the config is
    validated. One whose package lies inside the run folder or its experiment directory (where
    shared run folders land) would run code the folder chose: refused unless already imported."""
    import importlib.util
    import sys

    if not isinstance(trainer, dict):
        return
    metrics = trainer.get("performance_metrics")
    entries = [("trainer.loss_fn", trainer.get("loss_fn"))] + [
        (f"trainer.performance_metrics[{i}]", m.get("name") if isinstance(m, dict) else m)
        for i, m in enumerate(metrics if isinstance(metrics, list) else [])
    ]
    roots = [run.path.resolve()] + ([Path(exp_dir).resolve()] if exp_dir is not None else [])
    for key, name in entries:
        if not isinstance(name, str) or "." not in name or name.rpartition(".")[0] in sys.modules:
            continue
        try:  # a top-level spec is found without running any code
            spec = importlib.util.find_spec(name.split(".")[0])
        except (ImportError, ValueError):
            continue  # validation reports the missing module
        places = [spec.origin] if spec and spec.origin else []
        places += list(spec.submodule_search_locations or []) if spec else []
        for place in places:
            where = Path(place).resolve()
            if any(where == root or root in where.parents for root in roots):
                raise KnowItRunError(
                    f"{key}: {run.path.name} names {name!r}, code inside the run's experiment folder; "
                    "knowit never imports code a run folder chose: import it yourself first if you trust it"
                )


def module_from_checkpoint(path: Path, cfg: Any, recorded_arch: str | None = None):
    """A ``KnowItModule`` built from the validated config ``cfg`` holding the checkpoint's weights.

    Only data-derived shapes and class names come from the checkpoint; architecture, loss,
    metrics and optimiser come from ``cfg``. A checkpoint saved for another architecture than
    the run's config records (``recorded_arch``, default ``cfg.arch.name``) is refused."""
    from knowit import registry
    from knowit.training.module import KnowItModule, code_hparams

    ckpt = read_checkpoint(path)
    saved = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(saved, dict) or "arch_module" not in saved or not isinstance(ckpt.get("state_dict"), dict):
        raise KnowItRunError(f"checkpoint: {path} is not a knowit checkpoint (no architecture hyperparameters)")
    trusted = code_hparams(cfg)
    expected = {"arch_module": registry.module_path(recorded_arch or cfg.arch.name), "task": cfg.data.task}
    if recorded_arch in (None, cfg.arch.name):
        expected["arch_args"] = trusted["arch_args"]
    for key, value in expected.items():
        if saved.get(key) != value:
            raise KnowItRunError(
                f"checkpoint: {path} was saved with {key}={saved.get(key)!r}, but the run's config.yaml says {value!r}; "
                "the checkpoint does not belong to this run"
            )
    module = KnowItModule(**{**{k: saved[k] for k in _DATA_HPARAMS if k in saved}, **trusted})
    return load_weights(module, ckpt["state_dict"], path)


def load_weights(module: Any, state_dict: dict[str, Any], path: Path):
    try:
        module.load_state_dict(state_dict)
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0]
        raise KnowItRunError(f"checkpoint: {path} does not fit its architecture: {first}") from None
    return module.eval()


def load_run(path: Path, *, checkpoint: str = "best", arch: str | None = None, exp_dir: Path | None = None) -> LoadedRun:
    """A trained run, rebuilt from its validated config (see ``arch_to_import``): the best (or
    ``last``, or a named) checkpoint's weights, its scalers and summary. Paths read from the
    run's files must lie inside the run folder."""
    from knowit.rundir import read_run_json

    run = RunDir(Path(path))
    recorded = run.recorded_arch()
    cfg = run_config(run, arch=arch, exp_dir=exp_dir)
    summary = run.read_summary()
    if checkpoint == "best":
        last = run.inside("checkpoints/last.ckpt", "checkpoints/last.ckpt")
        ckpt = run.best_checkpoint() or (last if last.is_file() else None)
    elif checkpoint == "last":
        ckpt = run.inside("checkpoints/last.ckpt", "checkpoints/last.ckpt")
    else:
        ckpt = Path(checkpoint)  # named by the caller, not by the run's files
    if ckpt is None or not ckpt.is_file():
        if (summary or {}).get("repeats"):
            raise KnowItRunError(f"run_dir: {run.path} holds {summary['repeats']} repeats; load one of them: {run.path / 'rep-0'}")
        status = (summary or {}).get("status", "unknown")
        raise KnowItRunError(f"run_dir: {run.path} has no checkpoint to load (run status: {status})")
    scalers = read_run_json(run.scalers) if run.scalers.is_file() else {}
    module = module_from_checkpoint(ckpt, cfg, recorded)
    return LoadedRun(run=run, cfg=cfg, module=module, checkpoint=ckpt, scalers=scalers, summary=summary)
