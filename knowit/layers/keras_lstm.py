"""``KerasLSTM``: one LSTM layer the way Keras builds it, for Keras parameter counts and activations."""
from __future__ import annotations

import torch
from torch import nn

from knowit.layers.activations import get_activation


class KerasLSTM(nn.Module):
    """One Keras-style LSTM layer: gates i, f, c, o; one bias vector; any cell/output activation.

    Input ``(batch, T, input_size)`` -> output ``(batch, T, hidden)`` (every step, batch first).
    ``nn.LSTM`` has two bias vectors and a fixed tanh; this layer matches Keras's
    ``LSTM(hidden, activation=...)`` in parameter count and in ``unit_forget_bias``.
    """

    def __init__(self, input_size: int, hidden: int, activation: str = "tanh", *, key: str = "activation"):
        super().__init__()
        self.hidden = hidden
        self.kernel = nn.Linear(input_size, 4 * hidden)  # carries the bias
        self.recurrent = nn.Linear(hidden, 4 * hidden, bias=False)
        self.act = get_activation(activation, key)
        with torch.no_grad():
            self.kernel.bias.zero_()
            self.kernel.bias[hidden:2 * hidden] = 1.0  # Keras's unit_forget_bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z_x = self.kernel(x)
        h = x.new_zeros(x.shape[0], self.hidden)
        c = torch.zeros_like(h)
        out = []
        for z_t in z_x.unbind(1):
            i, f, g, o = (z_t + self.recurrent(h)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * self.act(g)
            h = torch.sigmoid(o) * self.act(c)
            out.append(h)
        return torch.stack(out, dim=1)
