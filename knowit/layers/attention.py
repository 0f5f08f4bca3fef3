"""Interpretable multi-head attention (Temporal Fusion Transformer): heads share one value
projection, so the head-averaged attention matrix is exactly how the output mixes time steps."""
from __future__ import annotations

import math

import torch
from torch import nn


class InterpretableMultiHeadAttention(nn.Module):
    """Self-attention over ``(batch, time, d_model)`` with per-head queries/keys and one shared value.

    ``forward(x, causal=True)`` returns ``(output (batch, time, d_model), weights (batch, time, time))``,
    ``weights`` the attention averaged over heads (rows sum to 1; with ``causal`` step t attends
    to steps <= t only).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.n_heads = n_heads
        self.d_head = max(1, d_model // n_heads)
        self.query = nn.Linear(d_model, n_heads * self.d_head)
        self.key = nn.Linear(d_model, n_heads * self.d_head)
        self.value = nn.Linear(d_model, self.d_head)
        self.out = nn.Linear(self.d_head, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, causal: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        batch, steps, _ = x.shape
        q = self.query(x).view(batch, steps, self.n_heads, self.d_head).transpose(1, 2)
        k = self.key(x).view(batch, steps, self.n_heads, self.d_head).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)  # (batch, heads, time, time)
        if causal:
            future = torch.ones(steps, steps, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        weights = torch.softmax(scores, dim=-1).mean(1)  # shared values: averaging heads first is exact
        return self.out(self.dropout(weights) @ self.value(x)), weights
