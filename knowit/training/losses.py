"""Loss functions by name: any ``torch.nn.functional`` loss, the built-in pinball (quantile) loss,
or a dotted path to the user's own callable; optional class weights.

``trainer.loss_fn`` takes:
- a ``torch.nn.functional`` loss that compares an output with a target (``mse_loss``,
  ``l1_loss``, ``huber_loss``, ``cross_entropy``, ``kl_div``, ``poisson_nll_loss``, ...), with
  ``trainer.loss_kwargs`` passed through;
- ``pinball_loss`` (regression): ``mean(max(q * e, (q - 1) * e))`` with ``e = target - output``
  and ``loss_kwargs.quantile`` (default 0.5: half the mean absolute error);
- ``package.module.function``: a callable ``(output, target, **loss_kwargs) -> scalar tensor``
  from a module the user's Python can import, or an ``nn.Module`` class built with ``loss_kwargs``.
  That imports (runs) the module: name only code you trust.
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from knowit.errors import KnowItConfigError

DEFAULT = {"regression": "mse_loss", "classification": "cross_entropy"}
_CLASS_WEIGHTED = ("cross_entropy", "nll_loss")


def pinball_loss(output: torch.Tensor, target: torch.Tensor, quantile: float = 0.5) -> torch.Tensor:
    """The quantile (pinball) loss: minimised by the ``quantile``-th quantile of the target."""
    error = target.to(output.dtype) - output
    return torch.maximum(quantile * error, (quantile - 1.0) * error).mean()


def _functional_losses() -> dict[str, Callable[..., torch.Tensor]]:
    """``torch.nn.functional`` losses of one output and one target (the rest need more tensors)."""
    found = {}
    for name in dir(F):
        fn = getattr(F, name)
        if name.startswith("_") or not inspect.isfunction(fn):
            continue
        if not (name.endswith("_loss") or name in ("cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div")):
            continue
        params = list(inspect.signature(fn).parameters.values())
        required = [p for p in params if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(required) == 2:
            found[name] = fn
    return found


LOSSES: dict[str, Callable[..., torch.Tensor]] = {**_functional_losses(), "pinball_loss": pinball_loss}


def import_callable(path: str, key: str) -> Any:
    """``package.module.attr`` imported (a user's loss or metric); KnowItConfigError naming ``key``
    when it cannot be."""
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise KnowItConfigError(f"{key}: cannot import module {module_name!r} for {path!r}: {err}") from None
    if not hasattr(module, attr):
        raise KnowItConfigError(f"{key}: module {module_name!r} has no {attr!r}")
    found = getattr(module, attr)
    if not callable(found):
        raise KnowItConfigError(f"{key}: {path!r} is not callable")
    return found


def check_loss_name(name: str | None, task: str, kwargs: dict[str, Any] | None = None) -> str:
    """The effective loss name, its keyword arguments checked against its signature (before training)."""
    name = name or DEFAULT[task]
    fn = resolve_loss(name)
    if name == "pinball_loss" and task != "regression":
        raise KnowItConfigError("trainer.loss_fn: pinball_loss is a regression loss; classification uses cross_entropy (or another)")
    target = fn.__init__ if isinstance(fn, type) else fn
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):  # builtins without a signature: nothing to check
        return name
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return name
    for key in kwargs or {}:
        if key not in params or params[key].kind is inspect.Parameter.POSITIONAL_ONLY:
            accepted = [p for p in params if p not in ("input", "target", "output", "self")]
            raise KnowItConfigError(f"trainer.loss_kwargs.{key}: {name} takes no argument {key!r}; it takes: {', '.join(accepted) or 'none'}")
    return name


def resolve_loss(name: str) -> Callable[..., Any]:
    """The callable behind a loss name (an ``nn.Module`` class for a dotted path to one)."""
    if name in LOSSES:
        return LOSSES[name]
    if "." in name:
        return import_callable(name, "trainer.loss_fn")
    raise KnowItConfigError(
        f"trainer.loss_fn: {name!r} is not a loss; choose one of: {', '.join(sorted(LOSSES))}, "
        "or a dotted path to your own function (package.module.function)"
    )


def make_loss(name: str, kwargs: dict, class_weights: list[float] | None = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    fn = resolve_loss(name)
    kwargs = dict(kwargs)
    if isinstance(fn, type):  # an nn.Module loss class: built once with its arguments
        fn, kwargs = fn(**kwargs), {}
    weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None

    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        kw = dict(kwargs)
        if weight is not None and name in _CLASS_WEIGHTED:
            kw["weight"] = weight.to(output.device)
        if name in ("binary_cross_entropy_with_logits", "binary_cross_entropy"):
            target = target.to(output.dtype)
            if output.shape != target.shape and output.shape[-1] == 1:
                output = output.squeeze(-1)
        return fn(output, target, **kw)

    return loss
