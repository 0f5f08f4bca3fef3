"""1-D temporal convolutions over ``(batch, channels, time)``: causal or centred, dilated, residual.

``TemporalConvBlock`` is one residual block of a CNN or TCN; ``receptive_field`` and
``depth_for_window`` say how many steps a stack of them sees, so ``depth: auto`` can choose the
fewest blocks whose receptive field covers the window.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm as _weight_norm

NORMALIZATIONS = ("batch", "layer", "none")


def receptive_field(kernel_size: int, dilation_base: int, depth: int, convs_per_block: int = 1) -> int:
    """Steps of input one output step sees through ``depth`` blocks with dilations ``base**i``."""
    return 1 + convs_per_block * (kernel_size - 1) * sum(dilation_base**i for i in range(depth))


def depth_for_window(in_len: int, kernel_size: int, dilation_base: int, convs_per_block: int = 1, limit: int = 64) -> int:
    """The fewest blocks whose receptive field covers ``in_len`` steps (at least 1)."""
    if kernel_size < 2:
        return 1  # a kernel of 1 never widens the field: one block
    depth = 1
    while receptive_field(kernel_size, dilation_base, depth, convs_per_block) < in_len and depth < limit:
        depth += 1
    return depth


class ChannelNorm(nn.Module):
    """Batch, layer or no normalisation of ``(batch, channels, time)`` over the channel axis."""

    def __init__(self, kind: str, channels: int):
        super().__init__()
        self.kind = kind
        self.norm: nn.Module = {"batch": lambda: nn.BatchNorm1d(channels), "layer": lambda: nn.LayerNorm(channels), "none": nn.Identity}[kind]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "layer":
            return self.norm(x.transpose(1, 2)).transpose(1, 2)
        return self.norm(x)


class TemporalConv(nn.Conv1d):
    """``Conv1d`` whose output keeps the input's length: centred padding, or all of it on the left
    (``causal``: step t sees steps <= t only)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, *, causal: bool = False):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation, padding=0)
        total = dilation * (kernel_size - 1)
        self.pad = (total, 0) if causal else (total // 2, total - total // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(nn.functional.pad(x, self.pad))


class TemporalConvBlock(nn.Module):
    """``convs`` x (conv -> norm -> activation -> dropout), plus the input (1x1-projected when the
    channels change) if ``residual``.

    Shapes: ``(batch, in_channels, time)`` -> ``(batch, out_channels, time)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        *,
        activation: type[nn.Module] | nn.Module,
        normalization: str = "batch",
        dropout: float = 0.0,
        residual: bool = True,
        causal: bool = False,
        weight_norm: bool = False,
        convs: int = 1,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(convs):
            conv: nn.Module = TemporalConv(channels, out_channels, kernel_size, dilation, causal=causal)
            if weight_norm:
                conv = _weight_norm(conv)
            layers += [conv, ChannelNorm(normalization, out_channels), _fresh(activation), nn.Dropout(dropout)]
            channels = out_channels
        self.body = nn.Sequential(*layers)
        self.residual = residual
        self.project = nn.Conv1d(in_channels, out_channels, 1) if residual and in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return y + self.project(x) if self.residual else y


def _fresh(activation: type[nn.Module] | nn.Module) -> nn.Module:
    """A new activation module per use (a module instance is deep-copied, a class instantiated)."""
    import copy

    return copy.deepcopy(activation) if isinstance(activation, nn.Module) else activation()
