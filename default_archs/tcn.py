"""TCN: causal dilated residual blocks (Bai, Kolter & Koltun, 2018) over the window.

Shapes
    input ``x``: ``(batch, in_len, n_in)``; each block keeps the length and step t sees only
    steps <= t, so the last step's features summarise the window; they feed a linear head.
    Any ``in_len`` works at run time. Regression output ``(batch, *output_dim)``;
    classification logits ``(batch, n_classes)``.

Blocks
    block i: two causal Conv1d(num_filters, kernel_size, dilation ``dilation_base**i``), each
    followed by normalisation, activation and dropout (``weight_norm`` reparametrises the
    convolutions), plus the block's input when ``residual_connect`` (1x1-projected in the first
    block). Receptive field: ``1 + 2 * (kernel_size - 1) * sum(dilation_base**i)``; it is
    recorded in the run's summary.json, and a window longer than it is a warning (the oldest
    steps cannot reach the output). ``depth: auto`` takes the fewest blocks that cover the window.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import torch
from torch import nn

from knowit.config.validate import build
from knowit.default_archs.cnn import check_depth, conv_depth
from knowit.layers.activations import ACTIVATIONS, activation_module
from knowit.layers.heads import TASKS, OutputHead, check_window, window_dims  # noqa: F401 (TASKS: plugin contract)
from knowit.layers.temporal_conv import NORMALIZATIONS, TemporalConvBlock, receptive_field

INPUT_LAYOUT = "series"

CONVS_PER_BLOCK = 2
log = logging.getLogger("knowit")


@dataclass
class ArchArgs:
    """Hyperparameters of the TCN (the CNN's, plus ``weight_norm``)."""

    num_filters: int = field(default=64, metadata={"ge": 1})  # channels of every convolution
    kernel_size: int = field(default=3, metadata={"ge": 1})  # steps per convolution kernel
    depth: Union[int, str] = "auto"  # residual blocks; auto: the fewest whose receptive field covers the window
    normalization: str = field(default="none", metadata={"choices": NORMALIZATIONS})  # batch, layer or none, after each convolution
    dropout: float = field(default=0.1, metadata={"ge": 0.0, "lt": 1.0})  # after each convolution's activation
    activations: str = field(default="relu", metadata={"choices": ACTIVATIONS})  # activation after each convolution (a Keras name or a torch.nn class)
    output_activation: Optional[str] = field(default=None, metadata={"choices": ACTIVATIONS})  # on the model output; null: none
    residual_connect: bool = True  # add each block's input to its output
    dilation_base: int = field(default=2, metadata={"ge": 1})  # block i dilates by dilation_base**i
    weight_norm: bool = True  # weight normalisation of every convolution (as in the TCN paper)

    def check(self) -> None:
        check_depth(self.depth)


class Model(nn.Module):
    """Args: ``input_dim = [in_len, n_in]``, ``output_dim``, ``task_name``, ``args`` (``ArchArgs`` or a mapping)."""

    def __init__(self, input_dim: list[int], output_dim: list[int], task_name: str, args: ArchArgs | dict[str, Any] | None = None):
        super().__init__()
        self.in_len, self.n_in = window_dims("TCN", input_dim, output_dim, task_name)
        a = build(ArchArgs, args, "arch")
        self.depth = conv_depth(a, self.in_len, CONVS_PER_BLOCK)
        self.receptive_field = receptive_field(a.kernel_size, a.dilation_base, self.depth, CONVS_PER_BLOCK)
        if self.receptive_field < self.in_len:
            log.warning(
                "arch: the TCN's receptive field is %d steps but the window has %d; the oldest %d steps cannot reach "
                "the output (raise arch.depth, arch.kernel_size or arch.dilation_base, or use depth: auto)",
                self.receptive_field, self.in_len, self.in_len - self.receptive_field,
            )
        channels = self.n_in
        blocks = []
        for i in range(self.depth):
            blocks.append(TemporalConvBlock(
                channels, a.num_filters, a.kernel_size, a.dilation_base**i, activation=activation_module(a.activations, "arch.activations"),
                normalization=a.normalization, dropout=a.dropout, residual=a.residual_connect, causal=True,
                weight_norm=a.weight_norm, convs=CONVS_PER_BLOCK,
            ))
            channels = a.num_filters
        self.blocks = nn.Sequential(*blocks)
        self.head = OutputHead(channels, output_dim, activation_module(a.output_activation, "arch.output_activation"))

    def arch_info(self) -> dict[str, int]:
        """Recorded in the run's summary.json."""
        return {"depth": self.depth, "receptive_field": self.receptive_field, "window": self.in_len}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, in_len, n_in)`` -> ``(batch, *output_dim)`` (classification: logits)."""
        check_window("TCN", x, self.n_in)
        return self.head(self.blocks(x.transpose(1, 2))[:, :, -1])
