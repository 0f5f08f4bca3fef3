"""Optimisers and learning-rate schedulers by name."""
from __future__ import annotations

from typing import Any

import torch

from knowit.errors import KnowItConfigError


def _lookup(namespace: Any, name: str, key: str) -> type:
    table = {n.lower(): getattr(namespace, n) for n in dir(namespace) if isinstance(getattr(namespace, n), type)}
    found = table.get(name.lower())
    if found is None:
        raise KnowItConfigError(f"{key}: {name!r} is not in {namespace.__name__}; e.g. Adam, AdamW, SGD, RMSprop")
    return found


def check_optimizer_name(name: str) -> None:
    _lookup(torch.optim, name, "trainer.optim")


def make_optimizer(params: Any, name: str, lr: float, weight_decay: float, kwargs: dict[str, Any]) -> torch.optim.Optimizer:
    cls = _lookup(torch.optim, name, "trainer.optim")
    try:
        return cls(params, lr=lr, weight_decay=weight_decay, **kwargs)
    except TypeError as err:
        raise KnowItConfigError(f"trainer.optim_kwargs: {name} rejects these arguments: {err}") from None
