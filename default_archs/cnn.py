"""CNN: a stack of non-causal 1-D temporal convolutions over the window (KnowIt's CNN).

Shapes
    input ``x``: ``(batch, in_len, n_in)`` (``input_dim = [in_len, n_in]``); the convolutions run
    over time with the input components as channels and keep the length ("same" padding);
    the ``(num_filters, in_len)`` feature map is flattened into a linear head, so ``in_len`` is
    fixed by the data. Regression output ``(batch, *output_dim)``; classification logits
    ``(batch, n_classes)``.

Blocks
    block i: Conv1d(num_filters, kernel_size, dilation ``dilation_base**i``) -> normalisation ->
    activation -> dropout, plus the block's input when ``residual_connect`` (1x1-projected in the
    first block). ``depth: auto`` (KnowIt's ``-1``) takes the fewest blocks whose receptive field
    ``1 + (kernel_size - 1) * sum(dilation_base**i)`` covers ``in_len``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

import torch
from torch import nn

from knowit.config.validate import FieldError, build
from knowit.layers.activations import ACTIVATIONS, activation_module
from knowit.layers.heads import TASKS, OutputHead, check_window, window_dims  # noqa: F401 (TASKS: plugin contract)
from knowit.layers.temporal_conv import NORMALIZATIONS, TemporalConvBlock, depth_for_window, receptive_field

INPUT_LAYOUT = "series"



@dataclass
class ArchArgs:
    """Hyperparameters of the CNN (KnowIt's defaults)."""

    num_filters: int = field(default=64, metadata={"ge": 1})  # channels of every convolution
    kernel_size: int = field(default=3, metadata={"ge": 1})  # steps per convolution kernel
    depth: Union[int, str] = "auto"  # convolution blocks; auto: the fewest whose receptive field covers the window
    normalization: str = field(default="batch", metadata={"choices": NORMALIZATIONS})  # batch, layer or none, after each convolution
    dropout: float = field(default=0.5, metadata={"ge": 0.0, "lt": 1.0})  # after each block's activation
    activations: str = field(default="relu", metadata={"choices": ACTIVATIONS})  # activation after each convolution (a Keras name or a torch.nn class)
    output_activation: Optional[str] = field(default=None, metadata={"choices": ACTIVATIONS})  # on the model output; null: none
    residual_connect: bool = True  # add each block's input to its output
    dilation_base: int = field(default=2, metadata={"ge": 1})  # block i dilates by dilation_base**i

    def check(self) -> None:
        check_depth(self.depth)


def check_depth(depth: Any) -> None:
    if isinstance(depth, str) and depth.lower() != "auto" or isinstance(depth, int) and depth < 1:
        raise FieldError("depth", f"{depth!r} is not valid; use a number of blocks >= 1 or auto")


def conv_depth(a: Any, in_len: int, convs_per_block: int) -> int:
    """``a.depth``, or for ``auto`` the fewest blocks whose receptive field covers ``in_len``."""
    if isinstance(a.depth, int):
        return a.depth
    return depth_for_window(in_len, a.kernel_size, a.dilation_base, convs_per_block)


class Model(nn.Module):
    """Args: ``input_dim = [in_len, n_in]``, ``output_dim``, ``task_name``, ``args`` (``ArchArgs`` or a mapping)."""

    def __init__(self, input_dim: list[int], output_dim: list[int], task_name: str, args: ArchArgs | dict[str, Any] | None = None):
        super().__init__()
        self.in_len, self.n_in = window_dims("CNN", input_dim, output_dim, task_name)
        a = build(ArchArgs, args, "arch")
        self.depth = conv_depth(a, self.in_len, 1)
        self.receptive_field = receptive_field(a.kernel_size, a.dilation_base, self.depth)
        channels = self.n_in
        blocks = []
        for i in range(self.depth):
            blocks.append(TemporalConvBlock(
                channels, a.num_filters, a.kernel_size, a.dilation_base**i, activation=activation_module(a.activations, "arch.activations"),
                normalization=a.normalization, dropout=a.dropout, residual=a.residual_connect,
            ))
            channels = a.num_filters
        self.blocks = nn.Sequential(*blocks)
        self.head = OutputHead(channels * self.in_len, output_dim, activation_module(a.output_activation, "arch.output_activation"))

    def arch_info(self) -> dict[str, int]:
        """Recorded in the run's summary.json."""
        return {"depth": self.depth, "receptive_field": self.receptive_field}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, in_len, n_in)`` -> ``(batch, *output_dim)`` (classification: logits)."""
        check_window("CNN", x, self.n_in, self.in_len)
        return self.head(self.blocks(x.transpose(1, 2)).flatten(1))
