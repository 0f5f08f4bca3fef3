"""Transformer: a ``torch.nn.TransformerEncoder`` over the window's time steps.

Shapes
    input ``x``: ``(batch, in_len, n_in)``; each step is projected to ``d_model``, positions are
    added (``sinusoidal``: fixed, any length; ``learned``: one vector per step, up to ``in_len``),
    ``depth`` pre-norm encoder layers run (``torch.nn.TransformerEncoderLayer``, whose attention
    is ``scaled_dot_product_attention``: the fused kernels), then ``pooling`` reduces time:
    ``last`` (the last step), ``mean`` (average over steps) or ``cls`` (a learned token
    prepended to the window). A linear head gives ``(batch, *output_dim)`` for regression and
    ``(batch, n_classes)`` logits for classification.

Attention is bidirectional over the window (every step sees every other): the window is the
past of the prediction point, so nothing leaks from the future.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from knowit.config.validate import FieldError, build
from knowit.layers.activations import ACTIVATIONS, activation_module
from knowit.layers.heads import TASKS, OutputHead, check_window, window_dims  # noqa: F401 (TASKS: plugin contract)
from knowit.layers.positional import POSITIONS, positions

INPUT_LAYOUT = "series"

POOLINGS = ("last", "mean", "cls")


@dataclass
class ArchArgs:
    """Hyperparameters of the transformer encoder."""

    d_model: int = field(default=64, metadata={"ge": 1})  # width of every step's representation
    n_heads: int = field(default=4, metadata={"ge": 1})  # attention heads (must divide d_model)
    depth: int = field(default=2, metadata={"ge": 1})  # encoder layers
    feedforward: int = field(default=128, metadata={"ge": 1})  # hidden units of each layer's feed-forward block
    dropout: float = field(default=0.1, metadata={"ge": 0.0, "lt": 1.0})  # in attention, feed-forward and before the head
    activation: str = field(default="gelu", metadata={"choices": ("relu", "gelu")})  # of the feed-forward block
    positions: str = field(default="sinusoidal", metadata={"choices": POSITIONS})  # sinusoidal (fixed) or learned position encodings
    pooling: str = field(default="last", metadata={"choices": POOLINGS})  # last step, mean over steps, or a cls token
    output_activation: Optional[str] = field(default=None, metadata={"choices": ACTIVATIONS})  # on the model output; null: none

    def check(self) -> None:
        if self.d_model % self.n_heads:
            raise FieldError("n_heads", f"{self.n_heads} heads do not divide d_model={self.d_model}")


class Model(nn.Module):
    """Args: ``input_dim = [in_len, n_in]``, ``output_dim``, ``task_name``, ``args`` (``ArchArgs`` or a mapping)."""

    def __init__(self, input_dim: list[int], output_dim: list[int], task_name: str, args: ArchArgs | dict[str, Any] | None = None):
        super().__init__()
        self.in_len, self.n_in = window_dims("transformer", input_dim, output_dim, task_name)
        a = build(ArchArgs, args, "arch")
        self.pooling = a.pooling
        self.embed = nn.Linear(self.n_in, a.d_model)
        self.positions = positions(a.positions, a.d_model, self.in_len + (a.pooling == "cls"))
        self.cls = nn.Parameter(torch.randn(1, 1, a.d_model) * 0.02) if a.pooling == "cls" else None
        layer = nn.TransformerEncoderLayer(
            a.d_model, a.n_heads, a.feedforward, a.dropout, activation=a.activation, batch_first=True, norm_first=True
        )
        # Nested tensors only help padded batches; windows are never padded.
        self.encoder = nn.TransformerEncoder(layer, a.depth, norm=nn.LayerNorm(a.d_model), enable_nested_tensor=False)
        self.dropout = nn.Dropout(a.dropout)
        self.head = OutputHead(a.d_model, output_dim, activation_module(a.output_activation, "arch.output_activation"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, in_len, n_in)`` -> ``(batch, *output_dim)`` (classification: logits)."""
        check_window("transformer", x, self.n_in)
        h = self.embed(x)
        if self.cls is not None:
            h = torch.cat([self.cls.expand(x.shape[0], -1, -1), h], dim=1)
        h = self.encoder(self.positions(h))
        pooled = h[:, 0] if self.pooling == "cls" else h.mean(1) if self.pooling == "mean" else h[:, -1]
        return self.head(self.dropout(pooled))
