"""The interpreter's settings (KnowIt's ``kwargs={'interpreter': {...}}``), checked before any work."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from knowit.config.validate import FieldError, build
from knowit.errors import KnowItConfigError

METHODS = ("IntegratedGradients", "DeepLift", "DeepLiftShap")
SETS = ("train", "valid", "test")
SELECTIONS = ("random", "all", "success", "failure")
BASELINES = ("mean", "zeros")


@dataclass
class InterpreterConfig:
    interpretation_method: str = field(default="IntegratedGradients", metadata={"choices": METHODS})
    interpretation_set: str = field(default="valid", metadata={"choices": SETS})
    selection: str = field(default="random", metadata={"choices": SELECTIONS})  # success/failure: correct/wrong class, or the better/worse half by error
    size: int = field(default=100, metadata={"ge": 1})  # points to explain (selection 'all' ignores it)
    multiply_by_inputs: bool = True  # global attribution (x - baseline) * gradient; False: local
    seed: int = field(default=123, metadata={"ge": 0})
    baseline: str = field(default="mean", metadata={"choices": BASELINES})  # mean of training inputs, or zeros (DeepLiftShap: a sample of training inputs)
    n_baseline_samples: int = field(default=20, metadata={"ge": 1})  # DeepLiftShap's baseline distribution
    n_steps: int = field(default=50, metadata={"ge": 1})  # IntegratedGradients' path steps
    batch_size: int = field(default=64, metadata={"ge": 1})  # points per attribution call
    outputs: Optional[Union[int, list[int]]] = field(default=None, metadata={"ge": 0})  # regression: output indices to explain (flattened step x component); None = all
    plot_points: int = field(default=4, metadata={"ge": 0})  # per-point heatmaps drawn

    def check(self) -> None:
        if isinstance(self.outputs, int):
            self.outputs = [self.outputs]
        if self.outputs == []:
            raise FieldError("outputs", "an empty list; give null (all outputs) or output indices >= 0")


def interpreter_config(kwargs: Mapping[str, Any] | None) -> InterpreterConfig:
    """KnowIt's ``{'interpreter': {...}}`` validated by the config validator (key paths ``interpreter.<key>``)."""
    kwargs = dict(kwargs or {})
    unknown = set(kwargs) - {"interpreter"}
    if unknown:
        raise KnowItConfigError(f"kwargs.{sorted(unknown)[0]}: unknown key; interpretation takes {{'interpreter': {{...}}}}")
    return build(InterpreterConfig, kwargs.get("interpreter"), "interpreter")
