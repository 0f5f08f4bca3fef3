"""Options of the doors that read trained runs: predict, visualize, interpret, compare, backtest.

Each is a schema dataclass built by the run config's validator (``build``), so a bad option is
refused the same way as a bad config key: one line starting with its key path, before any
work. ``options(cls, given, door)`` is the one entry; ``kwargs_options`` unpacks KnowIt's
``kwargs={'predictor': {...}}`` form.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, TypeVar, Union

from knowit.config.schema import BACKTEST_MODES, SETS, dir_name_problem
from knowit.config.validate import FieldError, build
from knowit.errors import KnowItConfigError

COMPARE_LOSSES = ("squared", "absolute")
INTERPRETATION_METHODS = ("IntegratedGradients", "DeepLift", "DeepLiftShap")
SELECTIONS = ("random", "all", "success", "failure")
ATTRIBUTION_BASELINES = ("mean", "zeros")


@dataclass
class PredictorConfig:
    """KnowIt's ``{'predictor': {...}}`` for ``KnowIt.generate_predictions``."""

    prediction_set: str = field(default="valid", metadata={"choices": SETS})  # the set to predict
    rescale_outputs: bool = True  # targets and predictions in original units (false: scaled units)


@dataclass
class VisualizeOptions:
    """``KnowIt.visualize`` / ``knowit viz``."""

    set_name: str = field(default="test", metadata={"choices": SETS})  # the set whose predictions are drawn
    min_probability: float = field(default=0.0, metadata={"ge": 0.0, "le": 1.0})  # classification report: withhold predictions below this probability


@dataclass
class InterpreterConfig:
    """KnowIt's ``{'interpreter': {...}}`` for ``KnowIt.interpret_model`` / ``knowit interpret``."""

    interpretation_method: str = field(default="IntegratedGradients", metadata={"choices": INTERPRETATION_METHODS})  # the Captum attribution method
    interpretation_set: str = field(default="valid", metadata={"choices": SETS})  # the set whose points are explained
    selection: str = field(default="random", metadata={"choices": SELECTIONS})  # success/failure: correct/wrong class, or the better/worse half by error
    size: int = field(default=100, metadata={"ge": 1})  # points to explain (selection 'all' ignores it)
    multiply_by_inputs: bool = True  # global attribution (x - baseline) * gradient; false: local
    seed: int = field(default=123, metadata={"ge": 0})  # seeds the random selection and DeepLiftShap's baseline sample
    baseline: str = field(default="mean", metadata={"choices": ATTRIBUTION_BASELINES})  # mean of training inputs, or zeros (DeepLiftShap: a sample of training inputs)
    n_baseline_samples: int = field(default=20, metadata={"ge": 1})  # DeepLiftShap's baseline distribution
    n_steps: int = field(default=50, metadata={"ge": 1})  # IntegratedGradients' path steps
    batch_size: int = field(default=64, metadata={"ge": 1})  # points per attribution call
    outputs: Optional[Union[int, list[int]]] = field(default=None, metadata={"ge": 0})  # regression: output indices to explain (flattened step x component); null: all
    plot_points: int = field(default=4, metadata={"ge": 0})  # per-point heatmaps drawn

    def check(self) -> None:
        if isinstance(self.outputs, int):
            self.outputs = [self.outputs]
        if self.outputs == []:
            raise FieldError("outputs", "an empty list; give null (all outputs) or output indices >= 0")


@dataclass
class CompareOptions:
    """``KnowIt.compare`` / ``knowit compare``."""

    model_names: list[str] = field(default_factory=list)  # two or more trained models (m, m/rep-<k>, or run directories)
    set_name: str = field(default="test", metadata={"choices": SETS})  # the set the models are scored on
    loss: str = field(default="squared", metadata={"choices": COMPARE_LOSSES})  # regression: the per-point loss of the Diebold-Mariano test
    name: Optional[str] = None  # folder under <exp_dir>/comparisons; null: made from the model names and the set

    def check(self) -> None:
        if len(self.model_names) < 2:
            raise FieldError("model_names", "name at least two trained models to compare")
        if len(set(self.model_names)) != len(self.model_names):
            raise FieldError("model_names", "a model is named twice")
        if self.name is not None and dir_name_problem(self.name):
            raise FieldError("name", dir_name_problem(self.name))


@dataclass
class BacktestOptions:
    """``KnowIt.backtest`` / ``knowit backtest``."""

    folds: int = field(default=5, metadata={"ge": 1})  # origins across the run's test region
    mode: str = field(default="expanding", metadata={"choices": BACKTEST_MODES})  # expanding: all data before each origin; sliding: a fixed-length training window
    refit: bool = False  # train each fold afresh; false: score the trained model as it is (needs a chronological split)


T = TypeVar("T")


def options(cls: type[T], given: Mapping[str, Any] | None, path: str = "") -> T:
    """``cls`` built from ``given`` by the config validator (errors name ``<path>.<key>``)."""
    return build(cls, dict(given or {}), path)


def kwargs_options(cls: type[T], kwargs: Mapping[str, Any] | None, key: str, doing: str) -> T:
    """KnowIt's ``kwargs={key: {...}}`` form: only ``key`` is allowed, its mapping is ``cls``."""
    kwargs = dict(kwargs or {})
    unknown = set(kwargs) - {key}
    if unknown:
        raise KnowItConfigError(f"kwargs.{sorted(unknown)[0]}: unknown key; {doing} takes {{'{key}': {{...}}}}")
    return build(cls, kwargs.get(key), key)
