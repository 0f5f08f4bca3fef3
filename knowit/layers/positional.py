"""Position encodings added to ``(batch, time, d_model)`` sequences."""
from __future__ import annotations

import math

import torch
from torch import nn

from knowit.errors import KnowItDataError

POSITIONS = ("sinusoidal", "learned")


class SinusoidalPositions(nn.Module):
    """The fixed sine/cosine encoding of "Attention is all you need"; any sequence length."""

    def __init__(self, d_model: int):
        super().__init__()
        self.d_model = d_model
        self.register_buffer("_table", self._build(64), persistent=False)

    def _build(self, length: int) -> torch.Tensor:
        position = torch.arange(length, dtype=torch.float32)[:, None]
        rate = torch.exp(torch.arange(0, self.d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / self.d_model))
        table = torch.zeros(length, self.d_model)
        table[:, 0::2] = torch.sin(position * rate)
        table[:, 1::2] = torch.cos(position * rate)[:, : self.d_model // 2]
        return table

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self._table.shape[0]:
            self._table = self._build(2 * x.shape[1]).to(self._table.device)
        return x + self._table[: x.shape[1]].to(x.dtype)


class LearnedPositions(nn.Module):
    """A trainable vector per position, for sequences of at most ``max_len`` steps."""

    def __init__(self, d_model: int, max_len: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, d_model) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.weight.shape[0]:
            raise KnowItDataError(f"learned positions cover {self.weight.shape[0]} steps, the input has {x.shape[1]}")
        return x + self.weight[: x.shape[1]]


def positions(kind: str, d_model: int, max_len: int) -> nn.Module:
    return SinusoidalPositions(d_model) if kind == "sinusoidal" else LearnedPositions(d_model, max_len)
