"""The ConvLSTM1D recurrence with a hand-written backward pass (tanh/sigmoid gates).

Autograd over a per-step loop records ~20 nodes per step and runs a weight-gradient convolution
per step. Here the whole layer is one autograd node:

- every step's input windows sit next to its state windows and a column of ones in one buffer
  ``cols (T, M, K*C + K*F + 1)`` (``M = N * rows``; index ``j*C + c`` then ``j*F + f``), so each
  step is a single GEMM ``cols[t] @ W`` with ``W = [kernel; recurrent kernel; bias]`` as
  ``(K*C + K*F + 1, 4F)`` (no bias: no ones column and no bias row). Measured on a 2-core CPU,
  this beats one batched input convolution plus a per-step recurrent one by ~9%: the input part
  (``K*C`` = 24 wide) is a poor GEMM on its own, and its output would be written and re-read;
- backward walks the steps once; the kernels' and the input's gradients are accumulated step by
  step while that step's gradient is still in cache.

On CPU ``tanh`` costs about five ``sigmoid``s, so the recurrence never calls it:
``tanh(z) = 2 sigmoid(2z) - 1``. The caller doubles the candidate gate's columns of ``W``
(``CANDIDATE_SCALE``), so one ``sigmoid`` covers all four gates.

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


def tap_rows(rows: int, shift: int) -> tuple[slice, slice]:
    """Window position with ``shift`` (it reads row ``r - shift`` for output row ``r``): the output
    rows where that row exists, and the rows they read. Elsewhere the window sees zero padding."""
    lo, hi = max(shift, 0), min(rows, rows + shift)
    return slice(lo, hi), slice(lo - shift, hi - shift)


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
    """``out, c_T = f(x_padded, W, h0, c0, mask)``.

    ``x_padded (T, N, R_padded, C)`` is the padded input, ``W (K*C + K*F [+ 1], 4F)`` with the
    bias as its last row when ``bias``, ``h0, c0 (N, R', F)``, ``mask`` the recurrent dropout mask
    or None. ``out`` is every step's ``h`` ``(T, N, R', F)`` with ``sequences``, else ``h_T``.

    Both loops index lists of views made before the loop: slicing inside the loop cost as much
    Python time as the small kernels themselves.
    """

    @staticmethod
    def forward(ctx: Any, x_padded: torch.Tensor, weight: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor,
                mask: torch.Tensor | None, kernel: int, stride: int, dilation: int, pads: tuple[int, int],
                sequences: bool, bias: bool) -> tuple[torch.Tensor, torch.Tensor]:
        steps, n, _, channels = x_padded.shape
        _, rows, f = h0.shape
        m, width, in_width, p0 = n * rows, weight.shape[0], kernel * channels, pads[0]
        cols = WORKSPACE.take((steps, m, width), x_padded)
        gates = WORKSPACE.take((steps, m, 4 * f), x_padded)  # sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
        cells = WORKSPACE.take((steps + 1, m, f), x_padded)
        tanh_c = WORKSPACE.take((steps, m, f), x_padded)
        # each step's input windows are copied in just before its GEMM, while they are in cache
        input_cols = cols[..., :in_width].view(steps, n, rows, kernel, channels).unbind(0)
        input_src = input_windows(x_padded, kernel, stride, dilation).unbind(0)
        if bias:
            cols[..., -1].fill_(1.0)
        # The state part of the windows: step t's windows over h_{t-1}. h is written once, as the
        # window centres, then copied to the other positions; positions off the rows stay zero.
        state = cols[..., in_width:in_width + kernel * f].view(steps, n, rows, kernel, f)
        centres = [v.view(m, f) for v in state[:, :, :, p0].unbind(0)]
        spreads = []
        for j in range(kernel):
            if j != p0:
                window_rows, state_rows = tap_rows(rows, p0 - j)
                state[:, :, :window_rows.start, j].zero_()
                state[:, :, window_rows.stop:, j].zero_()
                spreads.append((state[:, :, window_rows, j].unbind(0), state[:, :, state_rows, p0].unbind(0)))
        hs = x_padded.new_empty(steps, m, f) if sequences else None
        h_out = hs.unbind(0) if sequences else [None] * steps
        step_cols, z_all, c_prev, c_new, tc_all = cols.unbind(0), gates.unbind(0), cells[:-1].unbind(0), cells[1:].unbind(0), tanh_c.unbind(0)
        gi, gf, gg, go = (gates[..., k * f:(k + 1) * f].unbind(0) for k in range(4))
        cells[0].copy_(c0.reshape(m, f))
        centres[0].copy_((h0 if mask is None else h0 * mask).reshape(m, f))
        direct = not sequences and mask is None  # h goes straight into the next step's window centres
        for t in range(steps):
            input_cols[t].copy_(input_src[t])
            for dst, src in spreads:
                dst[t].copy_(src[t])
            tc = tc_all[t]
            torch.mm(step_cols[t], weight, out=z_all[t]).sigmoid_()
            gg[t].mul_(2.0).sub_(1.0)
            torch.mul(gf[t], c_prev[t], out=c_new[t]).addcmul_(gi[t], gg[t])
            torch.mul(c_new[t], 2.0, out=tc).sigmoid_().mul_(2.0).sub_(1.0)
            if direct and t + 1 < steps:
                torch.mul(go[t], tc, out=centres[t + 1])
            else:
                h = torch.mul(go[t], tc, out=h_out[t])
                if t + 1 < steps:
                    centres[t + 1].copy_(h if mask is None else h * mask.view(m, f))
        c_last = cells[steps].view(n, rows, f).clone()
        out = hs.view(steps, n, rows, f) if sequences else h.view(n, rows, f)
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
        cols, gates, cells, tanh_c = ctx.buffers
        x_shape, kernel, stride, dilation, pads, sequences = ctx.shape
        steps, n, padded_rows, channels = x_shape
        m, f4 = gates.shape[1:]
        f, rows, in_width, p0 = f4 // 4, m // n, kernel * channels, pads[0]
        dz = gates.new_empty(m, f4)  # this step's gradient by the gates' pre-activations
        di, df, dg, do = dz.split(f, dim=1)
        input_weight_t = weight[:in_width].t()
        grad_inputs = WORKSPACE.take((steps, m, in_width), gates) if ctx.needs_input_grad[0] else None
        state_weight_t = weight[in_width:in_width + kernel * f].t()
        one, half = gates.new_ones(()), gates.new_full((), 1.0 / CANDIDATE_SCALE)
        deriv = gates.new_empty(m, f4)  # each gate's derivative by its pre-activation
        deriv_g = deriv[:, 2 * f:3 * f]
        tmp_a, tmp_b = gates.new_empty(m, f), gates.new_empty(m, f)
        # the state gradient: each window position's gradient summed back onto the row it read
        grad_windows = gates.new_empty(m, kernel * f)
        windows = grad_windows.view(n, rows, kernel, f)
        dh = gates.new_empty(n, rows, f)
        folds = []
        for j in range(kernel):
            if j != p0:
                window_rows, state_rows = tap_rows(rows, p0 - j)
                folds.append((dh[:, state_rows], windows[:, window_rows, j]))
        centre = windows[:, :, p0]
        dc = grad_c.reshape(m, f).clone()
        dh_flat = dh.view(m, f)
        dh_flat.copy_((grad_out[steps - 1] if sequences else grad_out).reshape(m, f))
        mask_flat = None if mask is None else mask.reshape(m, f)
        grad_prev = grad_out.reshape(steps, m, f).unbind(0) if sequences else None
        z_all, tc_all, c_prev = gates.unbind(0), tanh_c.unbind(0), cells.unbind(0)
        gi, gf, gg, go = (gates[..., k * f:(k + 1) * f].unbind(0) for k in range(4))
        step_cols = cols.unbind(0)
        grad_weight = weight.new_zeros(weight.shape) if ctx.needs_input_grad[1] else None
        for t in range(steps - 1, -1, -1):
            gate, tc = z_all[t], tc_all[t]
            torch.addcmul(gate, gate, gate, value=-1.0, out=deriv)  # s (1 - s) of the sigmoid gates
            # tanh's derivative by the doubled pre-activation: (1 - tanh^2) / 2
            torch.addcmul(half, gg[t], gg[t], value=-1.0 / CANDIDATE_SCALE, out=deriv_g)
            torch.mul(dh_flat, tc, out=do)
            torch.addcmul(one, tc, tc, value=-1.0, out=tmp_b)  # 1 - tanh(c)^2
            dc.addcmul_(torch.mul(dh_flat, go[t], out=tmp_a), tmp_b)
            torch.mul(dc, gg[t], out=di)
            torch.mul(dc, c_prev[t], out=df)
            torch.mul(dc, gi[t], out=dg)
            dz.mul_(deriv)
            dc.mul_(gf[t])
            # the kernels' and the input's gradients step by step, while dz is in cache
            torch.mm(dz, state_weight_t, out=grad_windows)
            if grad_weight is not None:
                grad_weight.addmm_(step_cols[t].t(), dz)
            if grad_inputs is not None:
                torch.mm(dz, input_weight_t, out=grad_inputs[t])
            dh.copy_(centre)
            for dst, src in folds:
                dst.add_(src)
            if mask_flat is not None:  # only the masked state reached the recurrent kernel
                dh_flat.mul_(mask_flat)
            if t and sequences:
                dh_flat.add_(grad_prev[t - 1])
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = fold_input(grad_inputs.view(steps, n, rows, kernel, channels), padded_rows, stride, dilation)
        grad_h0 = dh if ctx.needs_input_grad[2] else None
        grad_c0 = dc.view(n, rows, f) if ctx.needs_input_grad[3] else None
        if not _graph_is_kept():  # nothing reads the buffers again: recycle them
            WORKSPACE.give(*ctx.buffers, *([] if grad_inputs is None else [grad_inputs]))
            ctx.buffers = ()
        return grad_x, grad_weight, grad_h0, grad_c0, None, None, None, None, None, None, None
