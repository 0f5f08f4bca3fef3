"""Loss functions by name (``torch.nn.functional``), with optional class weights."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from knowit.errors import KnowItConfigError

LOSSES = (
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy",
    "binary_cross_entropy_with_logits", "nll_loss",
)
DEFAULT = {"regression": "mse_loss", "classification": "cross_entropy"}


def check_loss_name(name: str | None, task: str) -> str:
    name = name or DEFAULT[task]
    if name not in LOSSES:
        raise KnowItConfigError(f"trainer.loss_fn: {name!r} is not supported; choose one of: {', '.join(LOSSES)}")
    return name


def make_loss(name: str, kwargs: dict, class_weights: list[float] | None = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    fn = getattr(F, name)
    kwargs = dict(kwargs)
    weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None

    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        kw = dict(kwargs)
        if weight is not None and name in ("cross_entropy", "nll_loss"):
            kw["weight"] = weight.to(output.device)
        if name == "binary_cross_entropy_with_logits":
            target = target.to(output.dtype)
            if output.shape != target.shape and output.shape[-1] == 1:
                output = output.squeeze(-1)
        return fn(output, target, **kw)

    return loss
