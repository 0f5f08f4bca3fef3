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


class StateWindows:
    """The state part of the windows buffer, ``(T, N, R, K, F)``: step t's windows over ``h_{t-1}``.

    A step's ``h`` is written once, as the window centres; ``spread`` copies it to the other
    window positions, and the positions that fall outside the rows stay zero (set once here).
    """

    def __init__(self, windows: torch.Tensor, pads: tuple[int, int]):
        self.windows, self.p0 = windows, pads[0]
        rows, kernel = windows.shape[2], windows.shape[3]
        self.shifts = [(j, self.p0 - j) for j in range(kernel) if j != self.p0]  # position j of row r reads row r - shift
        for j, shift in self.shifts:
            if shift > 0:
                windows[:, :, :shift, j].zero_()
            else:
                windows[:, :, max(rows + shift, 0):, j].zero_()

    def centre(self, t: int) -> torch.Tensor:
        """Step t's window centres as ``(N*R, F)`` (a strided view)."""
        n, rows, _, f = self.windows.shape[1:]
        return self.windows[t, :, :, self.p0].view(n * rows, f)

    def spread(self, t: int) -> None:
        step = self.windows[t]
        rows = step.shape[1]
        centre = step[:, :, self.p0]
        for j, shift in self.shifts:
            if 0 < shift < rows:
                step[:, shift:, j].copy_(centre[:, :rows - shift])
            elif -rows < shift < 0:
                step[:, :rows + shift, j].copy_(centre[:, -shift:])

    def write(self, t: int, h: torch.Tensor) -> None:
        self.centre(t).copy_(h.reshape(self.centre(t).shape))
        self.spread(t)


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
        hs = x_padded.new_empty(steps, n, rows, f) if sequences else None
        cols[..., :in_width].view(steps, n, rows, kernel, channels).copy_(input_windows(x_padded, kernel, stride, dilation))
        if bias:
            cols[..., -1].fill_(1.0)
        state = StateWindows(cols[..., in_width:in_width + kernel * f].view(steps, n, rows, kernel, f), pads)
        cells[0].copy_(c0.reshape(m, f))
        state.write(0, h0 if mask is None else h0 * mask)
        h_out = list(hs.view(steps, m, f).unbind(0)) if sequences else [None] * steps
        # per-step views made once (a view costs as much Python time as a small kernel)
        for t, (step_cols, z, c_prev, c, tc) in enumerate(zip(cols.unbind(0), gates.unbind(0), cells[:-1].unbind(0),
                                                              cells[1:].unbind(0), tanh_c.unbind(0))):
            torch.mm(step_cols, weight, out=z)
            i, fg, g, o = z.sigmoid_().split(f, dim=1)
            g.mul_(2.0).sub_(1.0)
            torch.mul(fg, c_prev, out=c).addcmul_(i, g)
            torch.mul(c, 2.0, out=tc).sigmoid_().mul_(2.0).sub_(1.0)
            last = t + 1 == steps
            if last or sequences or mask is not None:
                h = torch.mul(o, tc, out=h_out[t])
                if not last:
                    state.write(t + 1, h if mask is None else h * mask.view(m, f))
            else:  # h goes straight into the next step's windows
                torch.mul(o, tc, out=state.centre(t + 1))
                state.spread(t + 1)
        c_last = cells[steps].view(n, rows, f).clone()
        out = hs if sequences else h.view(n, rows, f)
        buffers = (cols, gates, cells, tanh_c)
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
