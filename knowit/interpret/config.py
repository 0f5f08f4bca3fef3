"""The interpreter's settings (KnowIt's ``kwargs={'interpreter': {...}}``), checked before any work."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from knowit.errors import KnowItConfigError

METHODS = ("IntegratedGradients", "DeepLift", "DeepLiftShap")
SETS = ("train", "valid", "test")
SELECTIONS = ("random", "all", "success", "failure")
BASELINES = ("mean", "zeros")


@dataclass
class InterpreterConfig:
    interpretation_method: str = "IntegratedGradients"
    interpretation_set: str = "valid"
    selection: str = "random"  # success/failure: correct/wrong class, or the better/worse half by error
    size: int = 100  # points to explain (selection 'all' ignores it)
    multiply_by_inputs: bool = True  # global attribution (x - baseline) * gradient; False: local
    seed: int = 123
    baseline: str = "mean"  # mean of training inputs, or zeros (DeepLiftShap: a sample of training inputs)
    n_baseline_samples: int = 20  # DeepLiftShap's baseline distribution
    n_steps: int = 50  # IntegratedGradients' path steps
    batch_size: int = 64  # points per attribution call
    outputs: Any = None  # regression: output indices to explain (flattened step x component); None = all
    plot_points: int = 4  # per-point heatmaps drawn


def interpreter_config(kwargs: Mapping[str, Any] | None) -> InterpreterConfig:
    kwargs = dict(kwargs or {})
    unknown = set(kwargs) - {"interpreter"}
    if unknown:
        raise KnowItConfigError(f"kwargs.{sorted(unknown)[0]}: unknown key; interpretation takes {{'interpreter': {{...}}}}")
    given = kwargs.get("interpreter") or {}
    if not isinstance(given, Mapping):
        raise KnowItConfigError(f"interpreter: expected a mapping, got {type(given).__name__}")
    names = [f.name for f in fields(InterpreterConfig)]
    for key in given:
        if key not in names:
            raise KnowItConfigError(f"interpreter.{key}: unknown key; allowed keys: {', '.join(names)}")
    cfg = InterpreterConfig(**given)
    choices = {"interpretation_method": METHODS, "interpretation_set": SETS, "selection": SELECTIONS, "baseline": BASELINES}
    for key, allowed in choices.items():
        if getattr(cfg, key) not in allowed:
            raise KnowItConfigError(f"interpreter.{key}: {getattr(cfg, key)!r} is not one of: {', '.join(allowed)}")
    for key in ("size", "n_baseline_samples", "n_steps", "batch_size"):
        value = getattr(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise KnowItConfigError(f"interpreter.{key}: {value!r} must be an integer >= 1")
    for key in ("seed", "plot_points"):
        value = getattr(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise KnowItConfigError(f"interpreter.{key}: {value!r} must be an integer >= 0")
    if not isinstance(cfg.multiply_by_inputs, bool):
        raise KnowItConfigError(f"interpreter.multiply_by_inputs: {cfg.multiply_by_inputs!r} must be true or false")
    if cfg.outputs is not None:
        items = [cfg.outputs] if isinstance(cfg.outputs, int) and not isinstance(cfg.outputs, bool) else cfg.outputs
        if not isinstance(items, (list, tuple)) or not items or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in items):
            raise KnowItConfigError(f"interpreter.outputs: {cfg.outputs!r} must be null or a list of output indices >= 0")
        cfg.outputs = list(items)
    return cfg
