"""The ConvLSTM1D recurrence with a hand-written backward pass (tanh/sigmoid gates).

Autograd over a per-step loop records ~20 nodes per step and runs one weight-gradient
convolution per step. Here the whole layer is one autograd node:

- every step's input windows are unfolded once, next to the state windows and a column of ones,
  into one buffer ``cols (T, M, K*C + K*F + 1)`` (``M = N * rows``; index ``j*C + c`` then
  ``j*F + f``), so each step is a single GEMM ``cols[t] @ W`` with ``W = [kernel; recurrent kernel;
  bias]`` as ``(K*C + K*F + 1, 4F)`` (no bias: no ones column and no bias row);
- backward walks the steps once for the state gradients, then gets the gradients of both
  kernels, the bias and the input from a few large GEMMs over all steps.

On CPU ``tanh`` costs about five ``sigmoid``s, so the recurrence never calls it:
``tanh(z) = 2 sigmoid(2z) - 1``. The caller doubles the candidate gate's columns of ``W`` and
``b`` (``CANDIDATE_SCALE``), so one ``sigmoid`` covers all four gates.

Fresh multi-MiB CPU buffers cost a page fault per 4 KiB on every call (glibc hands large
blocks back to the kernel), which was ~20% of a training step. The workspace buffers, which
never leave this module, are therefore recycled through ``WORKSPACE`` once backward is done.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

CANDIDATE_SCALE = 2.0


def input_windows(seq: torch.Tensor, kernel: int, stride: int, dilation: int) -> torch.Tensor:
    """``(T, N, R_padded, C)`` -> the view ``(T, N, R', K, C)`` of each output row's input window."""
    span = (kernel - 1) * dilation + 1
    return seq.unfold(2, span, stride)[..., ::dilation].transpose(-1, -2)


def fold_input(grad_windows: torch.Tensor, padded_rows: int, stride: int, dilation: int) -> torch.Tensor:
    """The adjoint of ``input_windows``: ``(T, N, R', K, C)`` -> ``(T, N, R_padded, C)``."""
    t, n, rows, kernel, c = grad_windows.shape
    out = grad_windows.new_zeros(t, n, padded_rows, c)
    for j in range(kernel):
        start = j * dilation
        out[:, :, start:start + stride * (rows - 1) + 1:stride] += grad_windows[:, :, :, j]
    return out


def unfold_state(h: torch.Tensor, kernel: int, pads: tuple[int, int]) -> torch.Tensor:
    """``(N, R, F)`` -> ``(N*R, K*F)``: the ``same``-padded window of K rows around each row."""
    n, rows, f = h.shape
    padded = F.pad(h, (0, 0, pads[0], pads[1])) if pads[0] or pads[1] else h
    return padded.unfold(1, kernel, 1).transpose(-1, -2).reshape(n * rows, kernel * f)


def fold_state(cols: torch.Tensor, out: torch.Tensor, pads: tuple[int, int]) -> torch.Tensor:
    """The adjoint of ``unfold_state``, written into ``out``: each window position's gradient summed onto its row."""
    n, rows, f = out.shape
    windows = cols.view(n, rows, -1, f)
    out.copy_(windows[:, :, pads[0]])  # the centre of each row's window is the row itself
    for j in range(windows.shape[2]):
        shift = pads[0] - j  # window position j of row r reads row r - shift
        if 0 < shift < rows:
            out[:, :rows - shift] += windows[:, shift:, j]
        elif shift < 0 and -shift < rows:
            out[:, -shift:] += windows[:, :rows + shift, j]
    return out


class Workspace:
    """A small free list of CPU buffers keyed by shape and dtype (at most ``per_key`` each, ``limit`` bytes in all)."""

    def __init__(self, limit: int = 1 << 30, per_key: int = 2):
        self.limit, self.per_key, self.held = limit, per_key, 0
        self.free: dict[tuple, list[torch.Tensor]] = {}
        self.lock = threading.Lock()

    def take(self, shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
        key = (tuple(shape), like.dtype, like.device)
        with self.lock:
            pool = self.free.get(key)
            if pool:
                buffer = pool.pop()
                self.held -= buffer.nbytes
                return buffer
        return like.new_empty(shape)

    def give(self, *buffers: torch.Tensor) -> None:
        """Return buffers nothing else references any more (CUDA has its own caching allocator)."""
        with self.lock:
            for buffer in buffers:
                key = (tuple(buffer.shape), buffer.dtype, buffer.device)
                pool = self.free.setdefault(key, [])
                if buffer.device.type == "cpu" and len(pool) < self.per_key and self.held + buffer.nbytes <= self.limit:
                    pool.append(buffer)
                    self.held += buffer.nbytes

    def clear(self) -> None:
        with self.lock:
            self.free.clear()
            self.held = 0


WORKSPACE = Workspace()


def _graph_is_kept() -> bool:
    """Whether this backward pass keeps the graph (``retain_graph``): then its buffers stay in use."""
    probe = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    return True if probe is None else bool(probe())


class ConvLSTMRecurrence(torch.autograd.Function):
    """``out, c_T = f(x_padded, W, b, h0, c0, mask)``.

    ``x_padded (T, N, R_padded, C)`` is the padded input, ``W (K*C + K*F [+ 1], 4F)`` with the
    bias as its last row when ``bias``, ``h0, c0 (N, R', F)``, ``mask`` the recurrent dropout mask or None. ``out`` is every
    step's ``h`` ``(T, N, R', F)`` with ``sequences``, else ``h_T`` ``(N, R', F)``.
    """

    @staticmethod
    def forward(ctx: Any, x_padded: torch.Tensor, weight: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor,
                mask: torch.Tensor | None, kernel: int, stride: int, dilation: int, pads: tuple[int, int],
                sequences: bool, bias: bool) -> tuple[torch.Tensor, torch.Tensor]:
        steps, n, _, channels = x_padded.shape
        _, rows, f = h0.shape
        m, width, in_width = n * rows, weight.shape[0], kernel * channels
        cols = WORKSPACE.take((steps, m, width), x_padded)
        gates = WORKSPACE.take((steps, m, 4 * f), x_padded)  # sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
        cells = WORKSPACE.take((steps + 1, m, f), x_padded)
        tanh_c = WORKSPACE.take((steps, m, f), x_padded)
        hs = x_padded.new_empty(steps, n, rows, f) if sequences else WORKSPACE.take((steps, n, rows, f), x_padded)
        cols[..., :in_width].view(steps, n, rows, kernel, channels).copy_(input_windows(x_padded, kernel, stride, dilation))
        state_cols = cols[..., in_width:in_width + kernel * f].view(steps, n, rows, kernel, f)
        if bias:
            cols[..., -1].fill_(1.0)
        padded = x_padded.new_zeros(n, rows + pads[0] + pads[1], f)  # the state with zero rows around it
        interior = padded[:, pads[0]:pads[0] + rows]
        windows = padded.unfold(1, kernel, 1).transpose(-1, -2)  # (N, R', K, F) view of padded
        cells[0].copy_(c0.reshape(m, f))
        h = h0
        # per-step views made once (a view costs as much Python time as a small kernel)
        for step_cols, state_window, z, c_prev, c, tc, h_out in zip(cols.unbind(0), state_cols.unbind(0), gates.unbind(0), cells[:-1].unbind(0),
                                                        cells[1:].unbind(0), tanh_c.unbind(0), hs.view(steps, m, f).unbind(0)):
            if mask is None:
                interior.copy_(h)
            else:
                torch.mul(h, mask, out=interior)
            state_window.copy_(windows)
            torch.mm(step_cols, weight, out=z)
            i, fg, g, o = z.sigmoid_().split(f, dim=1)
            g.mul_(2.0).sub_(1.0)
            torch.mul(fg, c_prev, out=c).addcmul_(i, g)
            torch.mul(c, 2.0, out=tc).sigmoid_().mul_(2.0).sub_(1.0)
            h = torch.mul(o, tc, out=h_out).view(n, rows, f)
        c_last = cells[steps].view(n, rows, f).clone()
        out = hs if sequences else h.clone()
        buffers = (cols, gates, cells, tanh_c) if sequences else (cols, gates, cells, tanh_c, hs)
        if any(ctx.needs_input_grad[:4]):
            ctx.save_for_backward(weight, mask)
            ctx.buffers = buffers
            ctx.shape = (x_padded.shape, kernel, stride, dilation, pads, sequences)
        else:
            WORKSPACE.give(*buffers)
        return out, c_last

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor, grad_c: torch.Tensor) -> tuple[Any, ...]:
        weight, mask = ctx.saved_tensors
        cols, gates, cells, tanh_c = ctx.buffers[:4]
        x_shape, kernel, stride, dilation, pads, sequences = ctx.shape
        steps, n, padded_rows, channels = x_shape
        m, f4 = gates.shape[1:]
        f, rows, in_width = f4 // 4, m // n, kernel * channels
        grad_z = WORKSPACE.take(gates.shape, gates)
        dc = grad_c.reshape(m, f).clone()
        dh = (grad_out[steps - 1] if sequences else grad_out).reshape(m, f).clone()
        state_weight_t = weight[in_width:in_width + kernel * f].t()
        one, half = gates.new_ones(()), gates.new_full((), 1.0 / CANDIDATE_SCALE)
        deriv = gates.new_empty(m, f4)  # each gate's derivative by its pre-activation
        dh_buf = gates.new_empty(n, rows, f)
        for t in range(steps - 1, -1, -1):
            gate, dz, tc = gates[t], grad_z[t], tanh_c[t]
            i, fg, g, o = gate.split(f, dim=1)
            di, df, dg, do = dz.split(f, dim=1)
            torch.addcmul(gate, gate, gate, value=-1.0, out=deriv)  # s (1 - s) of the sigmoid gates
            # tanh's derivative by the doubled pre-activation: (1 - tanh^2) / 2
            torch.addcmul(half, g, g, value=-1.0 / CANDIDATE_SCALE, out=deriv[:, 2 * f:3 * f])
            torch.mul(dh, tc, out=do)
            dc.addcmul_(dh * o, torch.addcmul(one, tc, tc, value=-1.0))  # 1 - tanh(c)^2
            torch.mul(dc, g, out=di)
            torch.mul(dc, cells[t], out=df)
            torch.mul(dc, i, out=dg)
            dz.mul_(deriv)
            dc.mul_(fg)
            dh_state = fold_state(dz @ state_weight_t, dh_buf, pads)
            if mask is not None:  # only the masked state reached the recurrent kernel
                dh_state.mul_(mask)
            if t and sequences:
                dh_state.add_(grad_out[t - 1])
            dh = dh_state.reshape(m, f)
        flat_z = grad_z.view(steps * m, f4)
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_windows = (flat_z @ weight[:in_width].t()).view(steps, n, rows, kernel, channels)
            grad_x = fold_input(grad_windows, padded_rows, stride, dilation)
        if ctx.needs_input_grad[1]:
            grad_weight = cols.view(steps * m, -1).t() @ flat_z
        grad_h0 = dh.view(n, rows, f) if ctx.needs_input_grad[2] else None
        grad_c0 = dc.view(n, rows, f) if ctx.needs_input_grad[3] else None
        if not _graph_is_kept():  # nothing reads the buffers again: recycle them
            WORKSPACE.give(*ctx.buffers, grad_z)
            ctx.buffers = ()
        return grad_x, grad_weight, grad_h0, grad_c0, None, None, None, None, None, None, None
