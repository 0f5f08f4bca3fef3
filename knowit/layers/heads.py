"""What every window architecture shares: the shape contract at its two ends.

``window_dims`` checks the dimensions the data hands an architecture; ``OutputHead`` maps the
features an architecture ends with to ``(batch, *output_dim)`` (regression) or ``(batch,
n_classes)`` logits (classification), with an optional output activation.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from knowit.errors import KnowItConfigError, KnowItDataError

TASKS = ("regression", "classification")


def window_dims(arch: str, input_dim: list[int], output_dim: list[int], task: str) -> tuple[int, int]:
    """``(in_len, n_in)`` of ``input_dim = [in_len, n_in]``; KnowItConfigError naming what does not fit."""
    if task not in TASKS:
        raise KnowItConfigError(f"data.task: {task!r} is not supported by the {arch}; choose one of: {', '.join(TASKS)}")
    if len(input_dim) != 2:
        raise KnowItConfigError(
            f"data.name: the {arch} reads windows of a time series (in_len, n_in); this dataset's samples are "
            f"{list(input_dim)} (image sequences: arch=cnn_lstm, 1-D fields: arch=convlstm1d)"
        )
    if task == "classification" and len(output_dim) != 1:
        raise KnowItConfigError(f"data.task: classification needs output_dim [n_classes], got {list(output_dim)}")
    return int(input_dim[0]), int(input_dim[1])


def check_window(arch: str, x: torch.Tensor, n_in: int, in_len: Optional[int] = None) -> None:
    """``x`` must be ``(batch, in_len, n_in)`` (any ``in_len`` when it is None)."""
    steps = "in_len" if in_len is None else str(in_len)
    if x.ndim != 3 or x.shape[2] != n_in or (in_len is not None and x.shape[1] != in_len):
        raise KnowItDataError(f"{arch} input must be (batch, {steps}, {n_in}), got {tuple(x.shape)}")


class OutputHead(nn.Module):
    """``Linear(features, prod(output_dim))`` reshaped to ``(batch, *output_dim)``, then the activation.

    Args:
        features: size of the last axis of the input ``(batch, features)``.
        output_dim: ``[out_len, n_out]`` (or any target shape) or ``[n_classes]``.
        activation: an ``nn.Module`` applied to the reshaped output (``nn.Identity()`` for none).
    """

    def __init__(self, features: int, output_dim: list[int], activation: nn.Module | None = None):
        super().__init__()
        self.output_dim = [int(n) for n in output_dim]
        self.linear = nn.Linear(features, math.prod(self.output_dim))
        self.activation = activation if activation is not None else nn.Identity()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(features).view(features.shape[0], *self.output_dim))
