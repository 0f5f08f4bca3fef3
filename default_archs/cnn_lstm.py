"""CNN-LSTM for image sequences: a per-frame conv stack, an LSTM over frames, a dense head.

Input ``(batch, T, C, H, W)`` (``input_dim = [T, C, H, W]``), or ``(batch, T, H, W, C)`` with
``channels_last``. The conv stack runs once over all ``batch * T`` frames (time folded into the
batch axis, no loop over frames), is flattened per frame, read by the LSTM, and the last step's
output goes through the dense head to ``n_classes`` logits (classification) or
``prod(output_dim)`` values (regression).

Defaults follow ManufacturingNet's CNNLSTM: kernel 3, padding 0, stride 1, batch norm on every
conv, 2x2 max-pooling with stride 2 on the last conv only, LSTM 128 units x 3 layers,
unidirectional, dropout 0. ``lstm_activation`` other than ``tanh`` (the Keras notebook's
``LSTM(32, activation='sigmoid')``) uses a Keras-style LSTM with one bias vector, so the
parameter count matches Keras exactly; with ``tanh`` and ``keras_lstm: false`` it is ``nn.LSTM``.
Shapes are checked when the model is built: a stack that shrinks the frames below 1x1 names the
layer and the size it reached.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import torch
from torch import nn

from knowit.config.validate import FieldError
from knowit.errors import KnowItConfigError, KnowItDataError
from knowit.layers.activations import ACTIVATIONS, activation_module
from knowit.layers.keras_lstm import KerasLSTM

TASKS = ("regression", "classification")
INPUT_LAYOUT = "frames"  # (T, C, H, W) samples


def input_layout(args: "ArchArgs") -> str:
    """The concrete layout for plots and interpretation: channels_last picks the axis order."""
    return "frames_channels_last" if args.channels_last else "frames"


@dataclass
class ArchArgs:
    conv_channels: list[int] = field(default_factory=lambda: [32, 64])  # one entry per convolution
    kernel_size: int = field(default=3, metadata={"ge": 1})  # convolution kernel (square)
    padding: Union[int, str] = 0  # a number of pixels, same or valid
    stride: Union[int, list[int]] = 1  # one for all convs, or one per conv
    conv_activation: str = field(default="relu", metadata={"choices": ACTIVATIONS})  # activation after each convolution (relu, tanh, ...)
    batch_norm: bool = True  # batch normalisation after every convolution
    pooling: str = field(default="last", metadata={"choices": ("last", "every", "none")})  # max-pooling after the last conv (ManufacturingNet), after every conv, or none
    pool_size: int = field(default=2, metadata={"ge": 1})  # pooling window
    pool_stride: int = field(default=2, metadata={"ge": 1})  # pooling stride
    conv_dropout: float = field(default=0.0, metadata={"ge": 0.0, "lt": 1.0})  # after the conv stack
    channels_last: bool = False  # inputs are (batch, T, H, W, C) instead of (batch, T, C, H, W)
    lstm_hidden: int = field(default=128, metadata={"ge": 1})  # LSTM hidden size
    lstm_layers: int = field(default=3, metadata={"ge": 1})  # stacked LSTM layers
    bidirectional: bool = False  # bidirectional LSTM
    lstm_activation: str = field(default="tanh", metadata={"choices": ACTIVATIONS})  # the LSTM's cell activation (tanh; others use the Keras-style LSTM)
    keras_lstm: bool = False  # one bias vector per gate (Keras's parameter count)
    head: list[int] = field(default_factory=list)  # hidden widths of the dense head
    head_activation: str = field(default="relu", metadata={"choices": ACTIVATIONS})  # activation between dense head layers
    dropout: float = field(default=0.0, metadata={"ge": 0.0, "lt": 1.0})  # before each dense layer
    output_activation: Optional[str] = field(default=None, metadata={"choices": ACTIVATIONS})  # on the model output (regression), e.g. sigmoid; null: none

    def check(self) -> None:
        if not self.conv_channels or any(c < 1 for c in self.conv_channels):
            raise FieldError("conv_channels", f"need one or more channel counts >= 1, got {self.conv_channels}")
        if isinstance(self.padding, str) and self.padding.lower() not in ("same", "valid"):
            raise FieldError("padding", f"{self.padding!r} is not valid; use a number of pixels, same or valid")
        if isinstance(self.padding, int) and self.padding < 0:
            raise FieldError("padding", f"{self.padding} is out of range; it must be >= 0")
        strides = self.stride if isinstance(self.stride, list) else [self.stride]
        if isinstance(self.stride, list) and len(self.stride) != len(self.conv_channels):
            raise FieldError("stride", f"{len(self.stride)} strides for {len(self.conv_channels)} convolutions")
        if any(s < 1 for s in strides):
            raise FieldError("stride", f"strides must be >= 1, got {self.stride}")
        if any(w < 1 for w in self.head):
            raise FieldError("head", f"widths must be >= 1, got {self.head}")


def _pad(padding: Union[int, str], kernel: int) -> int | str:
    return padding.lower() if isinstance(padding, str) else padding


def _conv_size(size: int, kernel: int, padding: int | str, stride: int) -> int:
    if padding == "same":
        return -(-size // stride)
    pad = 0 if padding == "valid" else int(padding)
    return (size + 2 * pad - kernel) // stride + 1


class Model(nn.Module):
    def __init__(self, input_dim: list[int], output_dim: list[int], task_name: str, args: ArchArgs | None = None):
        super().__init__()
        a = args or ArchArgs()
        if len(input_dim) != 4:
            raise KnowItDataError(
                f"data.name: CNN-LSTM reads image sequences (T, C, H, W) (or (T, H, W, C) with channels_last); "
                f"this dataset's samples are {list(input_dim)}"
            )
        self.channels_last, self.output_dim = a.channels_last, list(output_dim)
        steps, channels, height, width = (input_dim[0], input_dim[3], input_dim[1], input_dim[2]) if a.channels_last else input_dim
        strides = a.stride if isinstance(a.stride, list) else [a.stride] * len(a.conv_channels)
        layers: list[nn.Module] = []
        for k, (out_channels, stride) in enumerate(zip(a.conv_channels, strides)):
            padding = _pad(a.padding, a.kernel_size)
            if padding == "same" and stride > 1:
                raise KnowItConfigError("arch.padding: same padding needs stride 1 (PyTorch's convolution)")
            layers.append(nn.Conv2d(channels, out_channels, a.kernel_size, stride=stride, padding=padding))
            height, width = (_conv_size(s, a.kernel_size, padding, stride) for s in (height, width))
            self._check_size(k, "convolution", height, width)
            if a.batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(activation_module(a.conv_activation, "arch.conv_activation"))
            if a.pooling == "every" or (a.pooling == "last" and k == len(a.conv_channels) - 1):
                layers.append(nn.MaxPool2d(a.pool_size, a.pool_stride))
                height, width = ((s - a.pool_size) // a.pool_stride + 1 for s in (height, width))
                self._check_size(k, "pooling after convolution", height, width)
            channels = out_channels
        if a.conv_dropout:  # on the last conv block's output, before flattening (as the notebook)
            layers.append(nn.Dropout(a.conv_dropout))
        self.cnn = nn.Sequential(*layers)
        features = channels * height * width
        if a.keras_lstm or a.lstm_activation.lower() != "tanh":
            if a.bidirectional:
                raise KnowItConfigError("arch.bidirectional: the Keras-style LSTM (keras_lstm or a non-tanh lstm_activation) is unidirectional")
            stack = [KerasLSTM(features if k == 0 else a.lstm_hidden, a.lstm_hidden, a.lstm_activation, key="arch.lstm_activation") for k in range(a.lstm_layers)]
            self.lstm: nn.Module = nn.Sequential(*stack)
            self._torch_lstm = False
        else:
            self.lstm = nn.LSTM(features, a.lstm_hidden, a.lstm_layers, batch_first=True, bidirectional=a.bidirectional)
            self._torch_lstm = True
        width = a.lstm_hidden * (2 if a.bidirectional else 1)
        head: list[nn.Module] = []
        for hidden in a.head:
            head += [nn.Linear(width, hidden), activation_module(a.head_activation, "arch.head_activation")]
            if a.dropout:
                head.append(nn.Dropout(a.dropout))
            width = hidden
        n_out = 1
        for d in output_dim:
            n_out *= d
        head.append(nn.Linear(width, n_out))
        self.head = nn.Sequential(*head)
        self.head_dropout = nn.Dropout(a.dropout) if a.dropout and not a.head else nn.Identity()
        self.out_act = activation_module(a.output_activation, "arch.output_activation")
        self.frames = steps

    def _check_size(self, k: int, what: str, height: int, width: int) -> None:
        if height < 1 or width < 1:
            raise KnowItConfigError(
                f"arch.conv_channels: the frames shrink to {height}x{width} at the {what} {k}; "
                "use fewer convolutions, padding, smaller strides or less pooling"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise KnowItDataError(f"CNN-LSTM input must be (batch, T, C, H, W), got shape {tuple(x.shape)}")
        if self.channels_last:
            x = x.permute(0, 1, 4, 2, 3)
        n, steps = x.shape[:2]
        features = self.cnn(x.reshape(n * steps, *x.shape[2:])).reshape(n, steps, -1)  # all frames at once
        seq = self.lstm(features)[0] if self._torch_lstm else self.lstm(features)
        out = self.head(self.head_dropout(seq[:, -1]))
        return self.out_act(out).reshape(n, *self.output_dim)
