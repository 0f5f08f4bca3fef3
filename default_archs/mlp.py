"""MLP: fully connected layers over the flattened input window (KnowIt's MLP defaults).

Shapes
    input ``x``: ``(batch, *input_dim)``, usually ``(batch, in_len, n_in)``; the whole sample is
    flattened, so the MLP takes any sample shape but a fixed one (the ``input_dim`` it was built
    for); regression output ``(batch, *output_dim)`` (``[out_len, n_out]``); classification logits
    ``(batch, n_classes)``.

Layers
    ``depth`` x (Linear(width) -> BatchNorm1d (``batchnorm``) -> activation -> Dropout), then a
    linear head to ``prod(output_dim)`` values and the optional ``output_activation``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from knowit.config.validate import build
from knowit.layers.activations import ACTIVATIONS, activation_module
from knowit.errors import KnowItConfigError, KnowItDataError
from knowit.layers.heads import TASKS, OutputHead  # TASKS: plugin contract

INPUT_LAYOUT = "any"  # flattens whatever sample shape the data has



@dataclass
class ArchArgs:
    """Hyperparameters of the MLP (KnowIt's defaults)."""

    depth: int = field(default=3, metadata={"ge": 1})  # hidden layers
    width: int = field(default=256, metadata={"ge": 1})  # units per hidden layer
    dropout: float = field(default=0.5, metadata={"ge": 0.0, "lt": 1.0})  # after every hidden layer
    activations: str = field(default="relu", metadata={"choices": ACTIVATIONS})  # activation between layers (a Keras name or a torch.nn class)
    batchnorm: bool = True  # batch normalisation after every hidden linear layer
    output_activation: Optional[str] = field(default=None, metadata={"choices": ACTIVATIONS})  # on the model output; null: none


class Model(nn.Module):
    """Args: ``input_dim`` (any sample shape), ``output_dim``, ``task_name``, ``args`` (``ArchArgs`` or a mapping)."""

    def __init__(self, input_dim: list[int], output_dim: list[int], task_name: str, args: ArchArgs | dict[str, Any] | None = None):
        super().__init__()
        if task_name not in TASKS:
            raise KnowItConfigError(f"data.task: {task_name!r} is not supported by the MLP; choose one of: {', '.join(TASKS)}")
        if task_name == "classification" and len(output_dim) != 1:
            raise KnowItConfigError(f"data.task: classification needs output_dim [n_classes], got {list(output_dim)}")
        a = build(ArchArgs, args, "arch")
        self.input_dim = [int(n) for n in input_dim]
        features = math.prod(self.input_dim)
        layers: list[nn.Module] = []
        for _ in range(a.depth):
            layers.append(nn.Linear(features, a.width))
            if a.batchnorm:
                layers.append(nn.BatchNorm1d(a.width))
            layers += [activation_module(a.activations, "arch.activations"), nn.Dropout(a.dropout)]
            features = a.width
        self.hidden = nn.Sequential(*layers)
        self.head = OutputHead(features, output_dim, activation_module(a.output_activation, "arch.output_activation"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, *input_dim)`` -> ``(batch, *output_dim)`` (classification: logits)."""
        if list(x.shape[1:]) != self.input_dim:
            raise KnowItDataError(f"MLP input must be (batch, {', '.join(map(str, self.input_dim))}), got {tuple(x.shape)}")
        return self.head(self.hidden(x.reshape(x.shape[0], -1)))
