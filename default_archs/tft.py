"""TFT: a Temporal Fusion Transformer (Lim et al., 2021) for windows of a time series.

Shapes
    input ``x``: ``(batch, in_len, n_in)``; every input component is a variable. Regression
    output ``(batch, *output_dim)``; classification logits ``(batch, n_classes)``.

Layers
    1. Variable selection: each component embedded to ``hidden_size`` and passed through its own
       gated residual network (GRN); a GRN over all of them gives per-step softmax weights that
       mix them into one ``(batch, in_len, hidden_size)`` sequence.
    2. An LSTM encoder (``lstm_layers``), gated and added to its input (gate, add & norm).
    3. Enrichment GRN, then interpretable multi-head attention (heads share the value
       projection; causal: step t attends to steps <= t), gate, add & norm.
    4. A position-wise GRN, a gate, add & norm around the whole attention block, and the last
       step's features into a linear head.

Explanations
    After a forward, ``model.explain()`` returns ``{"variable_weights": (batch, in_len, n_in),
    "attention": (batch, in_len, in_len)}`` for that batch (detached): which components the
    model selected at each step, and how the output steps mixed the window's steps (averaged
    over heads). ``knowit interpret`` saves them beside Captum's attributions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from knowit.config.validate import FieldError, build
from knowit.layers.activations import ACTIVATIONS, activation_module
from knowit.errors import KnowItRunError
from knowit.layers.attention import InterpretableMultiHeadAttention
from knowit.layers.gated import GatedAddNorm, GatedResidualNetwork, VariableSelection
from knowit.layers.heads import TASKS, OutputHead, check_window, window_dims  # noqa: F401 (TASKS: plugin contract)

INPUT_LAYOUT = "series"



@dataclass
class ArchArgs:
    """Hyperparameters of the TFT."""

    hidden_size: int = field(default=64, metadata={"ge": 1})  # width of every GRN, the LSTM and the attention
    n_heads: int = field(default=4, metadata={"ge": 1})  # attention heads (must divide hidden_size)
    lstm_layers: int = field(default=1, metadata={"ge": 1})  # stacked LSTM encoder layers
    dropout: float = field(default=0.1, metadata={"ge": 0.0, "lt": 1.0})  # in every gate and the attention
    output_activation: Optional[str] = field(default=None, metadata={"choices": ACTIVATIONS})  # on the model output; null: none

    def check(self) -> None:
        if self.hidden_size % self.n_heads:
            raise FieldError("n_heads", f"{self.n_heads} heads do not divide hidden_size={self.hidden_size}")


class Model(nn.Module):
    """Args: ``input_dim = [in_len, n_in]``, ``output_dim``, ``task_name``, ``args`` (``ArchArgs`` or a mapping)."""

    def __init__(self, input_dim: list[int], output_dim: list[int], task_name: str, args: ArchArgs | dict[str, Any] | None = None):
        super().__init__()
        self.in_len, self.n_in = window_dims("TFT", input_dim, output_dim, task_name)
        a = build(ArchArgs, args, "arch")
        h, p = a.hidden_size, a.dropout
        self.selection = VariableSelection(self.n_in, h, p)
        self.lstm = nn.LSTM(h, h, a.lstm_layers, batch_first=True, dropout=p if a.lstm_layers > 1 else 0.0)
        self.lstm_gate = GatedAddNorm(h, h, p)
        self.enrichment = GatedResidualNetwork(h, h, h, p)
        self.attention = InterpretableMultiHeadAttention(h, a.n_heads, p)
        self.attention_gate = GatedAddNorm(h, h, p)
        self.positionwise = GatedResidualNetwork(h, h, h, p)
        self.output_gate = GatedAddNorm(h, h, 0.0)
        self.head = OutputHead(h, output_dim, activation_module(a.output_activation, "arch.output_activation"))
        self._explained: dict[str, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, in_len, n_in)`` -> ``(batch, *output_dim)`` (classification: logits)."""
        check_window("TFT", x, self.n_in)
        selected, variable_weights = self.selection(x)
        encoded = self.lstm_gate(self.lstm(selected)[0], selected)
        enriched = self.enrichment(encoded)
        attended, attention = self.attention(enriched)
        fused = self.positionwise(self.attention_gate(attended, enriched))
        out = self.output_gate(fused, encoded)
        self._explained = {"variable_weights": variable_weights.detach(), "attention": attention.detach()}
        return self.head(out[:, -1])

    def explain(self) -> dict[str, torch.Tensor]:
        """Variable-selection ``(batch, in_len, n_in)`` and attention ``(batch, in_len, in_len)``
        weights of the last forward."""
        if self._explained is None:
            raise KnowItRunError("TFT.explain: run a forward first; the weights belong to the last batch seen")
        return dict(self._explained)
