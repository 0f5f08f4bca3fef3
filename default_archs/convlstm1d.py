"""ConvLSTM1D: a stack of ``knowit.layers.ConvLSTM1D`` layers and a dense head, for 1-D field sequences.

Shapes
    input ``(batch, T, rows, channels)`` (``input_dim = [T, rows, channels]``; ``channels_first``
    data ``(batch, T, channels, rows)`` with ``data_format: channels_first``). Every layer but the
    last returns sequences (so the next one reads them); the last returns its final state
    ``(batch, rows', filters[-1])``, which the head flattens. Regression output
    ``(batch, *output_dim)`` (e.g. the next frame ``[rows, channels]``), classification logits.

Layer arguments are Keras's (see ``knowit.layers.convlstm1d``); ``batch_norm`` normalises each
layer's output over (batch, time, rows) per filter. ``stateful`` carries the last layer states
into the next batch (needs ``data.batch_sampling: contiguous``); ``trainable: false`` freezes the
recurrent layers (the head still trains).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

import torch
from torch import nn

from knowit.config.validate import FieldError
from knowit.errors import KnowItDataError
from knowit.layers.activations import ACTIVATIONS, activation_module, get_activation
from knowit.layers.convlstm1d import ConvLSTM1D
from knowit.layers.keras_weights import INITIALIZERS

TASKS = ("regression", "classification")
STATEFUL_ARG = "stateful"
INPUT_LAYOUT = "field"  # (T, rows, channels) samples


def input_layout(args: "ArchArgs") -> str:
    """The concrete layout for plots and interpretation: data_format picks the axis order."""
    return "field_channels_first" if args.data_format == "channels_first" else "field"


@dataclass
class ArchArgs:
    filters: list[int] = field(default_factory=lambda: [32])  # one ConvLSTM1D layer per entry, with this many filters
    kernel_size: int = field(default=3, metadata={"ge": 1})  # convolution kernel along rows
    strides: int = field(default=1, metadata={"ge": 1})  # input convolution stride
    padding: Union[str, list[int]] = "same"  # valid, same, or explicit [left, right]
    dilation_rate: int = field(default=1, metadata={"ge": 1})  # input convolution dilation
    data_format: str = field(default="channels_last", metadata={"choices": ("channels_last", "channels_first")})  # channels_last: (T, rows, C); channels_first: (T, C, rows)
    activation: Optional[str] = field(default="tanh", metadata={"choices": ACTIVATIONS})  # cell and output activation (Keras's activation)
    recurrent_activation: Optional[str] = field(default="sigmoid", metadata={"choices": ACTIVATIONS})  # gate activation
    output_activation: Optional[str] = field(default=None, metadata={"choices": ACTIVATIONS})  # applied to c_t for h_t; null: the same as activation
    use_bias: bool = True  # the input convolution carries a bias
    kernel_initializer: str = field(default="glorot_uniform", metadata={"choices": INITIALIZERS})  # Keras initialiser name for the input kernel
    recurrent_initializer: str = field(default="orthogonal", metadata={"choices": INITIALIZERS})  # Keras initialiser name for the recurrent kernel
    bias_initializer: str = field(default="zeros", metadata={"choices": INITIALIZERS})  # Keras initialiser name for the bias
    unit_forget_bias: bool = True  # forget-gate bias starts at one
    kernel_regularizer: Any = None  # null, or {l1: .., l2: ..}: penalty added to the training loss
    recurrent_regularizer: Any = None  # null, or {l1: .., l2: ..}
    bias_regularizer: Any = None  # null, or {l1: .., l2: ..}
    dropout: float = field(default=0.0, metadata={"ge": 0.0, "lt": 1.0})  # input dropout (mask fixed across time steps, training only)
    recurrent_dropout: float = field(default=0.0, metadata={"ge": 0.0, "lt": 1.0})  # dropout on h before the recurrent convolution
    go_backwards: bool = False  # read the sequence backwards
    stateful: bool = False  # carry states between batches (contiguous batch sampling)
    trainable: bool = True  # false freezes the ConvLSTM1D layers
    batch_norm: bool = False  # batch normalisation after each layer
    head: list[int] = field(default_factory=list)  # hidden widths of the dense head
    head_activation: str = field(default="relu", metadata={"choices": ACTIVATIONS})  # activation between dense head layers
    head_dropout: float = field(default=0.0, metadata={"ge": 0.0, "lt": 1.0})  # dropout before each dense head layer
    final_activation: Optional[str] = field(default=None, metadata={"choices": ACTIVATIONS})  # on the model output (regression), e.g. sigmoid

    def check(self) -> None:
        if not self.filters or any(f < 1 for f in self.filters):
            raise FieldError("filters", f"need one or more layer widths >= 1, got {self.filters}")
        if any(w < 1 for w in self.head):
            raise FieldError("head", f"widths must be >= 1, got {self.head}")


class Model(nn.Module):
    def __init__(self, input_dim: list[int], output_dim: list[int], task_name: str, args: ArchArgs | None = None):
        super().__init__()
        a = args or ArchArgs()
        if len(input_dim) != 3:
            raise KnowItDataError(f"data.name: ConvLSTM1D reads (T, rows, channels) samples; this dataset's samples are {input_dim}")
        self.output_dim, self.data_format = list(output_dim), a.data_format
        rows, channels = (input_dim[1], input_dim[2]) if a.data_format == "channels_last" else (input_dim[2], input_dim[1])
        self.in_rows = rows
        layers, norms = [], []
        for k, filters in enumerate(a.filters):
            last = k == len(a.filters) - 1
            layer = ConvLSTM1D(
                in_channels=channels, filters=filters, kernel_size=a.kernel_size, strides=a.strides,
                padding=a.padding if isinstance(a.padding, str) else list(a.padding), data_format=a.data_format,
                dilation_rate=a.dilation_rate, activation=a.activation, recurrent_activation=a.recurrent_activation,
                output_activation=a.output_activation, use_bias=a.use_bias, kernel_initializer=a.kernel_initializer,
                recurrent_initializer=a.recurrent_initializer, bias_initializer=a.bias_initializer,
                unit_forget_bias=a.unit_forget_bias, kernel_regularizer=a.kernel_regularizer,
                recurrent_regularizer=a.recurrent_regularizer, bias_regularizer=a.bias_regularizer, dropout=a.dropout,
                recurrent_dropout=a.recurrent_dropout, return_sequences=not last, go_backwards=a.go_backwards,
                stateful=a.stateful, trainable=a.trainable,
            )
            layers.append(layer)
            norms.append(nn.BatchNorm1d(filters) if a.batch_norm else nn.Identity())
            rows, channels = layer.output_rows(rows), filters
        self.layers, self.norms = nn.ModuleList(layers), nn.ModuleList(norms)
        self.stateful = a.stateful
        n_out = 1
        for d in output_dim:
            n_out *= d
        head: list[nn.Module] = [nn.Flatten()]
        width = rows * channels
        for hidden in a.head:
            head += [nn.Linear(width, hidden), activation_module(a.head_activation, "arch.head_activation")]
            if a.head_dropout:
                head.append(nn.Dropout(a.head_dropout))
            width = hidden
        head.append(nn.Linear(width, n_out))
        self.head = nn.Sequential(*head)
        self.final = get_activation(a.final_activation, "arch.final_activation") if task_name == "regression" else (lambda x: x)

    def _norm(self, norm: nn.Module, y: torch.Tensor) -> torch.Tensor:
        """Batch norm per filter over every other axis, in either data format."""
        if isinstance(norm, nn.Identity):
            return y
        axis = -1 if self.data_format == "channels_last" else -2
        moved = y.movedim(axis, -1)
        flat = moved.reshape(-1, moved.shape[-1])
        return norm(flat).reshape(moved.shape).movedim(-1, axis)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer, norm in zip(self.layers, self.norms):
            x = self._norm(norm, layer(x))
        return self.final(self.head(x)).reshape(x.shape[0], *self.output_dim)

    def reset_states(self, mask: torch.Tensor | None = None) -> None:
        for layer in self.layers:
            layer.reset_states(mask)

    def get_states(self, batch_size: int) -> list[torch.Tensor]:
        """Every layer's ``h`` and ``c`` the next forward starts from, batch first (zeros when none)."""
        states = []
        rows = self.in_rows
        for layer in self.layers:
            rows = layer.output_rows(rows)
            for value in (layer.h, layer.c):
                if value is None or value.shape[0] != batch_size:
                    value = layer.kernel.new_zeros(batch_size, rows, layer.filters)
                states.append(value)
        return states

    def set_states(self, states: list[torch.Tensor]) -> None:
        for k, layer in enumerate(self.layers):
            layer.h, layer.c = states[2 * k], states[2 * k + 1]
