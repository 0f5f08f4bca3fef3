"""Optimisers and learning-rate schedulers by name (any class of ``torch.optim`` / ``torch.optim.lr_scheduler``).

``check_optimization`` builds both on a dummy parameter at validation time, so a wrong name or
a keyword the class rejects fails before any data is loaded or any directory is written.
"""
from __future__ import annotations

from typing import Any

import torch

from knowit.config.schema import scheduler_monitor, scheduler_name
from knowit.errors import KnowItConfigError

# Keys knowit reads from lr_scheduler_kwargs itself (not passed to the scheduler class).
SCHEDULER_OWN_KEYS = ("monitor", "interval")


def _classes(namespace: Any, base: type) -> dict[str, type]:
    return {
        n.lower(): getattr(namespace, n)
        for n in dir(namespace)
        if not n.startswith("_") and isinstance(getattr(namespace, n), type) and issubclass(getattr(namespace, n), base)
        and getattr(namespace, n) is not base
    }


def _lookup(namespace: Any, base: type, name: str, key: str, examples: str) -> type:
    found = _classes(namespace, base).get(str(name).lower())
    if found is None:
        raise KnowItConfigError(f"{key}: {name!r} is not in {namespace.__name__}; e.g. {examples}")
    return found


# torch's single-kernel ("fused") update for these classes does what the default one does without
# a Python loop over parameter tensors: the Adam step of the shipped MLP goes from ~0.75 ms to
# ~0.25 ms on CPU (2 threads). SGD and Adagrad are left out: their fused kernels refuse sparse
# gradients, which the default ones take.
FUSED_BY_DEFAULT = (torch.optim.Adam, torch.optim.AdamW)
FUSED_DEVICES = ("cpu", "cuda")
_IMPLEMENTATION_KEYS = ("fused", "foreach", "differentiable", "capturable")


def _materialised(params: Any) -> list[Any]:
    """``params`` (tensors, or param-group dicts) as a list whose groups hold lists: read twice below."""
    out = []
    for item in params:
        if isinstance(item, dict):
            group = item["params"]
            item = {**item, "params": [group] if isinstance(group, torch.Tensor) else list(group)}
        out.append(item)
    return out


def _fusable(params: list[Any]) -> bool:
    """Real floating-point tensors on a CPU or CUDA device: torch accepts ``fused=True`` for
    others (complex ones) at construction and fails only at the first step."""
    tensors = [t for item in params for t in (item["params"] if isinstance(item, dict) else [item])]
    return bool(tensors) and all(t.is_floating_point() and t.device.type in FUSED_DEVICES for t in tensors)


def make_optimizer(params: Any, name: str, lr: float, weight_decay: float, kwargs: dict[str, Any]) -> torch.optim.Optimizer:
    """The optimiser ``name`` over ``params``; Adam and AdamW take the fused implementation unless
    ``kwargs`` chooses one (``fused: false`` gives torch's default loop)."""
    cls = _lookup(torch.optim, torch.optim.Optimizer, name, "trainer.optim", "Adam, AdamW, SGD, RMSprop")
    params = _materialised(params)
    if cls in FUSED_BY_DEFAULT and not any(k in kwargs for k in _IMPLEMENTATION_KEYS) and _fusable(params):
        try:
            return cls(params, lr=lr, weight_decay=weight_decay, fused=True, **kwargs)
        except (TypeError, ValueError, RuntimeError):
            pass  # an argument the fused build rejects: the default build below says which
    try:
        return cls(params, lr=lr, weight_decay=weight_decay, **kwargs)
    except (TypeError, ValueError, RuntimeError) as err:
        raise KnowItConfigError(f"trainer.optim_kwargs: {cls.__name__} rejects these arguments: {err}") from None


def make_scheduler(optimizer: torch.optim.Optimizer, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Lightning's scheduler config: stepped once per epoch unless ``interval: step``."""
    cls = _lookup(
        torch.optim.lr_scheduler, torch.optim.lr_scheduler.LRScheduler, name, "trainer.lr_scheduler",
        "StepLR, MultiStepLR, CosineAnnealingLR, ReduceLROnPlateau",
    )
    own = {k: kwargs[k] for k in SCHEDULER_OWN_KEYS if k in kwargs}
    passed = {k: v for k, v in kwargs.items() if k not in SCHEDULER_OWN_KEYS}
    try:
        scheduler = cls(optimizer, **passed)
    except (TypeError, ValueError) as err:
        raise KnowItConfigError(f"trainer.lr_scheduler_kwargs: {cls.__name__} rejects these arguments: {err}") from None
    interval = own.get("interval", "epoch")
    if interval not in ("epoch", "step"):
        raise KnowItConfigError(f"trainer.lr_scheduler_kwargs.interval: {interval!r} is not a valid choice; choose one of: epoch, step")
    out: dict[str, Any] = {"scheduler": scheduler, "interval": interval}
    monitor = scheduler_monitor(name, kwargs)
    if monitor:
        out["monitor"] = monitor
    return out


def check_optimization(trainer_cfg: Any) -> None:
    """Build the configured optimiser and scheduler on a dummy parameter (validation only)."""
    dummy = [torch.nn.Parameter(torch.zeros(1))]
    opt = make_optimizer(dummy, trainer_cfg.optim, trainer_cfg.learning_rate, trainer_cfg.weight_decay, trainer_cfg.optim_kwargs)
    if scheduler_name(trainer_cfg.lr_scheduler):
        make_scheduler(opt, trainer_cfg.lr_scheduler, trainer_cfg.lr_scheduler_kwargs)
    elif trainer_cfg.lr_scheduler_kwargs:
        raise KnowItConfigError("trainer.lr_scheduler_kwargs: given without trainer.lr_scheduler")
