"""``ConvLSTM1D``: Keras 3's ConvLSTM1D layer (Shi et al. 2015, no peepholes) as a PyTorch module.

Per step, with ``*`` a 1-D convolution over rows::

    z_t = W * x_t + b + U * h_{t-1}          (4F channels, gates in the order i, f, c, o)
    c_t = sigmoid(f) c_{t-1} + sigmoid(i) activation(cand)
    h_t = sigmoid(o) output_activation(c_t)  (recurrent_activation in place of sigmoid)

``W * x`` uses the layer's strides, padding and dilation and carries the bias; ``U * h`` uses
stride 1, ``same`` padding, no dilation and no bias. Speed: with the default activations the
recurrence is one autograd node with its own backward pass (``knowit.layers.recurrence``); other
activations run the same layout through autograd. Shapes follow the Keras documentation (see
``output_shape``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from knowit.errors import KnowItConfigError
from knowit.layers.activations import get_activation
from knowit.layers.keras_weights import keras_init, regularizer
from knowit.layers.recurrence import CANDIDATE_SCALE, ConvLSTMRecurrence, input_windows, unfold_state


def conv_output_length(length: int, kernel: int, padding: str | Sequence[int], stride: int, dilation: int) -> int:
    span = (kernel - 1) * dilation + 1
    if padding == "same":
        return -(-length // stride)
    if padding == "valid":
        return (length - span) // stride + 1
    return (length + int(padding[0]) + int(padding[1]) - span) // stride + 1


def same_pads(length: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow/Keras ``same``: the odd padding row goes at the end."""
    span = (kernel - 1) * dilation + 1
    out = -(-length // stride)
    total = max((out - 1) * stride + span - length, 0)
    return total // 2, total - total // 2


class ConvLSTM1D(nn.Module):
    """Keras ``ConvLSTM1D`` with the same arguments (plus ``in_channels`` and ``output_activation``).

    Input ``(samples, time, rows, channels)`` (``channels_last``) or ``(samples, time, channels,
    rows)`` (``channels_first``). Output ``(samples, time, new_rows, filters)`` with
    ``return_sequences``, else ``(samples, new_rows, filters)`` (channels and rows swapped for
    ``channels_first``); ``return_state`` returns ``(output, h, c)``.
    """

    def __init__(
        self, in_channels: int, filters: int, kernel_size: int, *, strides: int = 1, padding: str | Sequence[int] = "valid",
        data_format: str = "channels_last", dilation_rate: int = 1, activation: str | None = "tanh",
        recurrent_activation: str | None = "sigmoid", output_activation: str | None = None, use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform", recurrent_initializer: str = "orthogonal", bias_initializer: str = "zeros",
        unit_forget_bias: bool = True, kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
        bias_regularizer: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0, return_sequences: bool = False,
        return_state: bool = False, go_backwards: bool = False, stateful: bool = False, trainable: bool = True,
    ):
        super().__init__()
        for key, value in (("in_channels", in_channels), ("filters", filters), ("kernel_size", kernel_size), ("strides", strides), ("dilation_rate", dilation_rate)):
            if not isinstance(value, int) or value < 1:
                raise KnowItConfigError(f"{key}: {value!r} must be an integer >= 1")
        if strides > 1 and dilation_rate > 1:
            raise KnowItConfigError("strides: strides > 1 cannot be combined with dilation_rate > 1 (as in Keras)")
        if isinstance(padding, str):
            padding = padding.lower()
            if padding not in ("valid", "same"):
                raise KnowItConfigError(f"padding: {padding!r} is not valid; use valid, same or [before, after]")
        elif len(padding) != 2 or any(int(p) < 0 for p in padding):
            raise KnowItConfigError(f"padding: explicit padding must be [before, after] >= 0, got {list(padding)}")
        if data_format not in ("channels_last", "channels_first"):
            raise KnowItConfigError(f"data_format: {data_format!r} is not valid; use channels_last or channels_first")
        for key, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= value < 1.0:
                raise KnowItConfigError(f"{key}: {value} is out of range; it must be in [0, 1)")
        self.in_channels, self.filters, self.kernel_size = in_channels, filters, kernel_size
        self.strides, self.padding, self.dilation_rate, self.data_format = strides, padding, dilation_rate, data_format
        self.activation = get_activation(activation, "activation")
        self.recurrent_activation = get_activation(recurrent_activation, "recurrent_activation")
        self.output_activation = self.activation if output_activation is None else get_activation(output_activation, "output_activation")
        # tanh/sigmoid/tanh (the default) runs the recurrence with a hand-written backward pass
        self._standard_gates = (self.activation is torch.tanh and self.recurrent_activation is torch.sigmoid
                                and self.output_activation is torch.tanh)
        self.dropout, self.recurrent_dropout = dropout, recurrent_dropout
        self.return_sequences, self.return_state, self.go_backwards, self.stateful = return_sequences, return_state, go_backwards, stateful
        self.penalties = {
            "kernel": regularizer(kernel_regularizer, "kernel_regularizer"),
            "recurrent_kernel": regularizer(recurrent_regularizer, "recurrent_regularizer"),
            "bias": regularizer(bias_regularizer, "bias_regularizer"),
        }
        # torch layouts: kernel (4F, C_in, K), recurrent kernel (4F, F, K); Keras's are (K, C_in, 4F), (K, F, 4F)
        kernel = keras_init(kernel_initializer, (kernel_size, in_channels, 4 * filters), "kernel_initializer")
        recurrent = keras_init(recurrent_initializer, (kernel_size, filters, 4 * filters), "recurrent_initializer")
        self.kernel = nn.Parameter(kernel.permute(2, 1, 0).contiguous())
        self.recurrent_kernel = nn.Parameter(recurrent.permute(2, 1, 0).contiguous())
        if use_bias:
            bias = keras_init(bias_initializer, (4 * filters,), "bias_initializer")
            if unit_forget_bias:
                bias[filters:2 * filters] = 1.0
            self.bias = nn.Parameter(bias)
        else:
            self.register_parameter("bias", None)
        self.set_trainable(trainable)
        self.register_buffer("h", None, persistent=False)
        self.register_buffer("c", None, persistent=False)

    # -- Keras compatibility ---------------------------------------------------------------------
    def set_trainable(self, trainable: bool) -> None:
        """Freeze (False) or unfreeze the layer's weights (the reference's "update?")."""
        for p in self.parameters():
            p.requires_grad_(trainable)

    @torch.no_grad()
    def load_keras_weights(self, kernel: Any, recurrent_kernel: Any, bias: Any = None) -> None:
        """Load weights in Keras layout: kernel ``(K, C_in, 4F)``, recurrent ``(K, F, 4F)``, bias ``(4F,)``."""
        kernel, recurrent_kernel = torch.as_tensor(np.asarray(kernel), dtype=torch.float32), torch.as_tensor(np.asarray(recurrent_kernel), dtype=torch.float32)
        want_k = (self.kernel_size, self.in_channels, 4 * self.filters)
        want_r = (self.kernel_size, self.filters, 4 * self.filters)
        if tuple(kernel.shape) != want_k:
            raise KnowItConfigError(f"kernel: expected Keras shape {want_k}, got {tuple(kernel.shape)}")
        if tuple(recurrent_kernel.shape) != want_r:
            raise KnowItConfigError(f"recurrent_kernel: expected Keras shape {want_r}, got {tuple(recurrent_kernel.shape)}")
        self.kernel.copy_(kernel.permute(2, 1, 0))
        self.recurrent_kernel.copy_(recurrent_kernel.permute(2, 1, 0))
        if self.bias is not None:
            if bias is None or tuple(np.shape(bias)) != (4 * self.filters,):
                raise KnowItConfigError(f"bias: expected Keras shape ({4 * self.filters},), got {None if bias is None else tuple(np.shape(bias))}")
            self.bias.copy_(torch.as_tensor(np.asarray(bias), dtype=torch.float32))

    def output_rows(self, rows: int) -> int:
        return conv_output_length(rows, self.kernel_size, self.padding, self.strides, self.dilation_rate)

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Keras's documented output shape for an input shape ``(samples, time, ., .)``."""
        n, t = input_shape[0], input_shape[1]
        rows = input_shape[2] if self.data_format == "channels_last" else input_shape[3]
        spatial = (self.output_rows(rows), self.filters) if self.data_format == "channels_last" else (self.filters, self.output_rows(rows))
        return (n, t, *spatial) if self.return_sequences else (n, *spatial)

    def regularization_loss(self) -> torch.Tensor | float:
        """The L1/L2 penalty of the weights (added to the training loss by the training module)."""
        total: torch.Tensor | float = 0.0
        for name, (l1, l2) in self.penalties.items():
            w = getattr(self, name)
            if w is None or (l1 == 0 and l2 == 0):
                continue
            total = total + l1 * w.abs().sum() + l2 * w.square().sum()
        return total

    def reset_states(self, mask: torch.Tensor | None = None) -> None:
        """Forget the carried states (all, or the rows where ``mask`` is True)."""
        if mask is None or self.h is None:
            self.h = self.c = None
        elif len(mask) != self.h.shape[0]:
            self.h = self.c = None
        else:
            keep = (~mask.to(self.h.device)).to(self.h.dtype).view(-1, 1, 1)
            self.h, self.c = self.h * keep, self.c * keep

    # -- computation -----------------------------------------------------------------------------
    def _padded_steps(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, T, C, R)`` -> ``(T, N, R_padded, C)``: steps first, the input's padding applied."""
        seq = x.permute(1, 0, 3, 2)
        if self.padding == "same":
            pads = same_pads(x.shape[3], self.kernel_size, self.strides, self.dilation_rate)
        else:
            pads = (0, 0) if self.padding == "valid" else (int(self.padding[0]), int(self.padding[1]))
        return F.pad(seq, (0, 0, *pads)) if pads != (0, 0) else seq

    def _dropout_mask(self, like: torch.Tensor, rate: float) -> torch.Tensor | None:
        """One mask per sequence, the same at every time step (as Keras)."""
        if not self.training or rate == 0.0:
            return None
        return torch.bernoulli(torch.full_like(like, 1.0 - rate)) / (1.0 - rate)

    def forward(self, x: torch.Tensor, initial_state: Sequence[torch.Tensor] | None = None) -> Any:
        if x.dim() != 4:
            raise ValueError(f"ConvLSTM1D expects a 4-D input (samples, time, ., .), got shape {tuple(x.shape)}")
        if self.data_format == "channels_last":
            x = x.transpose(2, 3)  # -> (N, T, C, R)
        if x.shape[2] != self.in_channels:
            raise ValueError(f"ConvLSTM1D built for {self.in_channels} channels, got {x.shape[2]} (input {tuple(x.shape)})")
        if self.go_backwards:
            x = x.flip(1)
        mask = self._dropout_mask(x[:, :1], self.dropout)
        if mask is not None:
            x = x * mask
        rows = self.output_rows(x.shape[3])
        if rows < 1:
            raise ValueError(f"ConvLSTM1D: {x.shape[3]} rows leave no output rows (kernel {self.kernel_size}, padding {self.padding!r})")
        seq = self._padded_steps(x)  # (T, N, R_padded, C)
        n = x.shape[0]
        h, c = self._initial(n, rows, seq, initial_state)  # (N, R', F) each
        h_mask = self._dropout_mask(h, self.recurrent_dropout)
        # (K*C + K*F [+ 1], 4F): rows j*C + c read the input window, j*F + f the state window, then the bias
        weight = torch.cat([self.kernel.permute(2, 1, 0).reshape(-1, 4 * self.filters),
                            self.recurrent_kernel.permute(2, 1, 0).reshape(-1, 4 * self.filters),
                            *([] if self.bias is None else [self.bias[None]])])
        pads = same_pads(rows, self.kernel_size, 1, 1)
        if self._standard_gates:
            # the fast recurrence takes the candidate gate's pre-activation doubled (see recurrence.py)
            scale = weight.new_ones(4 * self.filters)
            scale[2 * self.filters:3 * self.filters] = CANDIDATE_SCALE
            out, c = ConvLSTMRecurrence.apply(seq, weight * scale, h, c, h_mask, self.kernel_size, self.strides,
                                              self.dilation_rate, pads, self.return_sequences, self.bias is not None)
            h, seq = (out[-1], out.transpose(0, 1)) if self.return_sequences else (out, None)
        else:
            h, c, outputs = self._generic_steps(seq, weight, h, c, h_mask, pads)
            seq = torch.stack(outputs, dim=1) if self.return_sequences else None
        c = c.reshape(n, rows, self.filters)
        if self.stateful:
            self.h, self.c = h.detach(), c.detach()
        out = seq if self.return_sequences else h
        if self.data_format == "channels_first":
            out, h, c = out.transpose(-1, -2), h.transpose(-1, -2), c.transpose(-1, -2)
        return (out, h, c) if self.return_state else out

    def _generic_steps(self, seq: torch.Tensor, weight: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                       h_mask: torch.Tensor | None, pads: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """The recurrence through autograd, for any activation functions (same layout as the fast one)."""
        n, rows, f = h.shape
        act, rec_act, out_act = self.activation, self.recurrent_activation, self.output_activation
        in_width = self.kernel_size * self.in_channels
        windows = input_windows(seq, self.kernel_size, self.strides, self.dilation_rate)
        z_x = windows.reshape(seq.shape[0], n * rows, in_width) @ weight[:in_width]
        if self.bias is not None:
            z_x = z_x + self.bias
        c = c.reshape(n * rows, f)
        outputs = []
        # unbind, not z_x[t]: its backward stacks the step gradients once instead of
        # scattering each into a zero tensor the size of the whole sequence
        for z_t in z_x.unbind(0):
            cols = unfold_state(h if h_mask is None else h * h_mask, self.kernel_size, pads)
            i, fg, g, o = torch.addmm(z_t, cols, weight[in_width:in_width + self.kernel_size * f]).chunk(4, dim=1)
            c = rec_act(fg) * c + rec_act(i) * act(g)
            h = (rec_act(o) * out_act(c)).view(n, rows, f)
            outputs.append(h)
        return h, c, outputs if self.return_sequences else []

    def _initial(self, n: int, rows: int, like: torch.Tensor, initial_state: Sequence[torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
        """States in the recurrence's layout ``(N, rows, filters)``."""
        if initial_state is not None:
            h, c = initial_state
            if self.data_format == "channels_first":
                h, c = h.transpose(-1, -2), c.transpose(-1, -2)
            return h.contiguous(), c.contiguous()
        if self.stateful and self.h is not None and self.h.shape[0] == n:
            return self.h, self.c
        zeros = like.new_zeros(n, rows, self.filters)
        return zeros, zeros
