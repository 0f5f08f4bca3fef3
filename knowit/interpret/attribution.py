"""Captum attribution of a model's outputs to its input windows, in batches.

Stateful models (LSTM tracking, stateful ConvLSTM1D) implement ``get_states(batch_size)`` /
``set_states(states)``: the states a point's window starts from are passed to captum as
additional forward arguments, which captum expands alongside the inputs (path steps, baseline
copies), so every evaluated sample starts from its own point's replayed context.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any

import torch
from torch import nn


class Explained(nn.Module):
    """The model as captum sees it: outputs flattened to ``(N, n_outputs)``; states pinned per sample."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> torch.Tensor:
        if states:
            self.model.set_states(list(states))
        return self.model(x).reshape(x.shape[0], -1)


def attribute(
    explained: Explained,
    method: str,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    baseline: torch.Tensor,
    distribution: torch.Tensor | None,
    states: list[torch.Tensor] | None,
    multiply_by_inputs: bool,
    n_steps: int,
) -> torch.Tensor:
    """Attributions of ``explained(x)[i, target[i]]`` to ``x`` (same shape as ``x``)."""
    from captum import attr

    extra = tuple(states) if states else None
    x = x.detach().requires_grad_()
    no_cudnn = torch.backends.cudnn.flags(enabled=False) if x.is_cuda else contextlib.nullcontext()
    with no_cudnn, warnings.catch_warnings():  # cuDNN's RNN backward refuses eval mode
        warnings.filterwarnings("ignore", message="Setting forward, backward hooks", category=UserWarning)
        if method == "IntegratedGradients":
            explainer: Any = attr.IntegratedGradients(explained, multiply_by_inputs=multiply_by_inputs)
            return explainer.attribute(x, baselines=baseline.expand_as(x).contiguous(), target=target, additional_forward_args=extra,
                                       n_steps=n_steps, internal_batch_size=x.shape[0])
        if method == "DeepLift":
            explainer = attr.DeepLift(explained, multiply_by_inputs=multiply_by_inputs)
            return explainer.attribute(x, baselines=baseline.expand_as(x).contiguous(), target=target, additional_forward_args=extra)
        explainer = attr.DeepLiftShap(explained, multiply_by_inputs=multiply_by_inputs)
        return explainer.attribute(x, baselines=distribution, target=target, additional_forward_args=extra)
