"""Gated layers of the Temporal Fusion Transformer (Lim et al., 2021), for ``(..., features)`` inputs.

``GatedAddNorm``: ``LayerNorm(skip + GLU(dropout(x)))``. ``GatedResidualNetwork``: a two-layer
ELU network gated and added to its (projected) input. ``VariableSelection``: per-step softmax
weights over input variables, each variable embedded and passed through its own GRN.
"""
from __future__ import annotations

import torch
from torch import nn


class GatedAddNorm(nn.Module):
    """``LayerNorm(skip + a * sigmoid(b))`` where ``[a, b] = Linear(dropout(x))``: ``(..., d_in)`` -> ``(..., d_out)``."""

    def __init__(self, d_in: int, d_out: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.glu = nn.Linear(d_in, 2 * d_out)
        self.norm = nn.LayerNorm(d_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.norm(skip + nn.functional.glu(self.glu(self.dropout(x)), dim=-1))


class GatedResidualNetwork(nn.Module):
    """``GatedAddNorm(W2 ELU(W1 x), skip=x)``; ``x`` is projected to ``d_out`` when the sizes differ.

    Shapes: ``(..., d_in)`` -> ``(..., d_out)``.
    """

    def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float = 0.0):
        super().__init__()
        self.skip = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()
        self.hidden = nn.Sequential(nn.Linear(d_in, d_hidden), nn.ELU(), nn.Linear(d_hidden, d_hidden))
        self.gate = GatedAddNorm(d_hidden, d_out, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(self.hidden(x), self.skip(x))


class VariableSelection(nn.Module):
    """Embed each of ``n_vars`` scalar inputs, weight them per step and sum.

    Shapes: ``(batch, time, n_vars)`` -> ``((batch, time, d_model), weights (batch, time, n_vars))``;
    the weights are a softmax over variables (they sum to 1 at every step).
    """

    def __init__(self, n_vars: int, d_model: int, dropout: float = 0.0):
        super().__init__()
        self.n_vars = n_vars
        # One Linear(1, d_model) per variable, held as one tensor so all embed in one broadcast.
        self.embed_weight = nn.Parameter(torch.randn(n_vars, d_model) * (1.0 / d_model**0.5))
        self.embed_bias = nn.Parameter(torch.zeros(n_vars, d_model))
        self.selector = GatedResidualNetwork(n_vars * d_model, d_model, n_vars, dropout)
        self.per_variable = nn.ModuleList(GatedResidualNetwork(d_model, d_model, d_model, dropout) for _ in range(n_vars))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedded = x.unsqueeze(-1) * self.embed_weight + self.embed_bias  # (batch, time, n_vars, d_model)
        weights = torch.softmax(self.selector(embedded.flatten(-2)), dim=-1)
        processed = torch.stack([grn(embedded[..., i, :]) for i, grn in enumerate(self.per_variable)], dim=-2)
        return (weights.unsqueeze(-1) * processed).sum(-2), weights
