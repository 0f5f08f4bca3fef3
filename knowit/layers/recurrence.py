"""The ConvLSTM1D recurrence with a hand-written backward pass (tanh/sigmoid gates).

Autograd over a per-step loop records ~20 nodes per step and runs one weight-gradient
convolution per step. Here forward stores what backward needs (unfolded state windows, gate
values, cell states); backward walks the steps once, and the recurrent kernel's gradient is one
large GEMM over all steps at the end. Shapes: ``M = N * rows``, ``W`` is the recurrent kernel as
``(F*K, 4F)`` against state windows unfolded to ``(M, F*K)`` (index ``f*K + j``).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def unfold_state(h: torch.Tensor, kernel: int, pads: tuple[int, int]) -> torch.Tensor:
    """``(N, R, F)`` -> ``(N*R, F*K)``: the ``same``-padded window of K rows around each row."""
    n, rows, f = h.shape
    padded = F.pad(h, (0, 0, pads[0], pads[1])) if pads[0] or pads[1] else h
    return padded.unfold(1, kernel, 1).reshape(n * rows, f * kernel)


def fold_state(cols: torch.Tensor, n: int, rows: int, f: int, kernel: int, pads: tuple[int, int]) -> torch.Tensor:
    """The adjoint of ``unfold_state``: sum each window position's gradient back onto its row."""
    windows = cols.view(n, rows, f, kernel)
    padded = cols.new_zeros(n, rows + pads[0] + pads[1], f)
    for j in range(kernel):
        padded[:, j:j + rows] += windows[..., j]
    return padded[:, pads[0]:pads[0] + rows]


class LSTMRecurrence(torch.autograd.Function):
    """``hs, c_T = f(z_x, W, h0, c0, mask)`` with ``z_x (T, M, 4F)`` the input convolution."""

    @staticmethod
    def forward(ctx: Any, z_x: torch.Tensor, weight: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor,
                mask: torch.Tensor | None, kernel: int, pads: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        steps, m, f4 = z_x.shape
        n, rows, f = h0.shape
        cols_all = z_x.new_empty(steps, m, f * kernel)
        gates = z_x.new_empty(steps, m, f4)  # sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
        cells = z_x.new_empty(steps + 1, m, f)
        hs = z_x.new_empty(steps, n, rows, f)
        cells[0] = c0.reshape(m, f)
        h = h0
        for t in range(steps):
            cols = unfold_state(h if mask is None else h * mask, kernel, pads)
            cols_all[t] = cols
            z = torch.addmm(z_x[t], cols, weight, out=gates[t])
            torch.sigmoid_(z[:, :2 * f])
            torch.tanh_(z[:, 2 * f:3 * f])
            torch.sigmoid_(z[:, 3 * f:])
            i, fg, g, o = z.split(f, dim=1)
            c = torch.addcmul(fg * cells[t], i, g, out=cells[t + 1])
            h = torch.mul(o, torch.tanh(c), out=hs[t].view(m, f)).view(n, rows, f)
        ctx.save_for_backward(weight, cols_all, gates, cells, mask)
        ctx.shape = (n, rows, f, kernel, pads)
        return hs, cells[steps].view(n, rows, f)

    @staticmethod
    def backward(ctx: Any, grad_hs: torch.Tensor | None, grad_c: torch.Tensor | None) -> tuple[Any, ...]:
        weight, cols_all, gates, cells, mask = ctx.saved_tensors
        n, rows, f, kernel, pads = ctx.shape
        steps, m, f4 = gates.shape
        grad_z = gates.new_empty(steps, m, f4)
        dh_next = gates.new_zeros(m, f)
        dc = grad_c.reshape(m, f).clone() if grad_c is not None else gates.new_zeros(m, f)
        weight_t = weight.t()
        for t in range(steps - 1, -1, -1):
            i, fg, g, o = gates[t].split(f, dim=1)
            dh = dh_next if grad_hs is None else dh_next + grad_hs[t].reshape(m, f)
            tc = torch.tanh(cells[t + 1])
            di, df, dg, do = grad_z[t].split(f, dim=1)
            torch.mul(dh, tc, out=do)
            do.mul_(o * (1 - o))
            dc.addcmul_(dh * o, 1 - tc * tc)
            torch.mul(dc, g, out=di)
            di.mul_(i * (1 - i))
            torch.mul(dc, i, out=dg)
            dg.mul_(1 - g * g)
            torch.mul(dc, cells[t], out=df)
            df.mul_(fg * (1 - fg))
            dc = dc * fg
            dh_next = fold_state(grad_z[t] @ weight_t, n, rows, f, kernel, pads)
            if mask is not None:
                dh_next = dh_next * mask
            dh_next = dh_next.reshape(m, f)
        grad_weight = cols_all.view(steps * m, -1).t() @ grad_z.view(steps * m, f4)
        return grad_z, grad_weight, dh_next.view(n, rows, f), dc.view(n, rows, f), None, None, None
