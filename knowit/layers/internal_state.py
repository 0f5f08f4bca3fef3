"""``InternalState``: the initial and carried hidden/cell states of an ``nn.LSTM`` stack.

Initial states are zeros, random draws, learned parameters or given tensors; with tracking the
final states of one forward become the next forward's initial states, detached (truncated
backpropagation through time). ``default_archs/lstm.py`` documents the options for users.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from knowit.errors import KnowItConfigError, KnowItDataError

INIT_CHOICES = ("zeros", "random", "learned")
RANDOM_STATE_STD = 0.1


def parse_init_state(value: Any, rows: int, width: int) -> str | torch.Tensor:
    """An init option as ``'zeros'``/``'random'``/``'learned'`` or a float tensor of a valid shape.

    Raises ValueError (without the key name) listing the valid options or the expected shapes.
    """
    if value is None:
        return "zeros"
    if isinstance(value, str):
        if value.lower() in INIT_CHOICES:
            return value.lower()
        raise ValueError(
            f"{value!r} is not a valid initial state; choose one of: null, {', '.join(INIT_CHOICES)}, "
            f"or a tensor of shape (d*depth, width) = ({rows}, {width}) or (d*depth, batch, width) = ({rows}, batch, {width})"
        )
    try:
        tensor = torch.as_tensor(_plain_nested(value), dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(
            f"{_short(value)} is neither one of null, {', '.join(INIT_CHOICES)} nor a tensor (nested list of numbers)"
        ) from None
    valid = (tensor.ndim == 2 and tuple(tensor.shape) == (rows, width)) or (
        tensor.ndim == 3 and tensor.shape[0] == rows and tensor.shape[2] == width and tensor.shape[1] >= 1
    )
    if not valid:
        raise ValueError(
            f"tensor of shape {tuple(tensor.shape)} does not fit; expected (d*depth, width) = ({rows}, {width}) "
            f"or (d*depth, batch, width) = ({rows}, batch, {width}), with d = 2 if bidirectional else 1"
        )
    return tensor.detach().clone()


def _plain_nested(value: Any) -> Any:
    """Nested sequences (lists, tuples, OmegaConf ListConfig) as nested lists; tensors pass through."""
    if isinstance(value, torch.Tensor) or isinstance(value, (str, bytes)):
        return value
    if isinstance(value, Sequence):
        return [_plain_nested(v) for v in value]
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class InternalState(nn.Module):
    """Initial and current hidden/cell states of an LSTM, shaped ``(d*depth, batch, width)``.

    ``h0``/``c0`` are the current states (non-persistent buffers, ``None`` until first set).
    Given tensors are non-persistent buffers too (they come from the config); ``'learned'`` states
    are parameters ``learned_h0``/``learned_c0`` of shape ``(d*depth, width)``.

    Args:
        width: features of the hidden state.
        depth: number of stacked LSTM layers.
        init_hidden_state, init_cell_state: an init option (see ``Internal``).
        track_hidden: continue from the stored states at the next ``current`` call (tracking).
        bidirect: the LSTM is bidirectional (``d = 2``).
        seed: seed of the generator behind ``'random'``; default ``torch.initial_seed()``.
    """

    h0: torch.Tensor | None
    c0: torch.Tensor | None

    def __init__(
        self,
        width: int,
        depth: int,
        init_hidden_state: Any = None,
        init_cell_state: Any = None,
        *,
        track_hidden: bool = False,
        bidirect: bool = False,
        seed: int | None = None,
    ):
        super().__init__()
        self.width = width
        self.depth = depth
        self.d = 2 if bidirect else 1
        self.tracking = bool(track_hidden)
        self.rows = self.d * depth
        self.init_hidden_state = self._register_init("h0", "init_hidden_state", init_hidden_state)
        self.init_cell_state = self._register_init("c0", "init_cell_state", init_cell_state)
        self.register_buffer("h0", None, persistent=False)
        self.register_buffer("c0", None, persistent=False)
        self._pending_reset: torch.Tensor | None = None
        self._generator = torch.Generator().manual_seed(torch.initial_seed() if seed is None else seed)

    def _register_init(self, state: str, key: str, value: Any) -> str | torch.Tensor:
        """Parse an init option and register what it needs; returns the parsed option."""
        try:
            option = parse_init_state(value, self.rows, self.width)
        except ValueError as err:
            raise KnowItConfigError(f"arch.internal_state.{key}: {err}") from None
        if isinstance(option, torch.Tensor):
            self.register_buffer(f"given_{state}", option, persistent=False)
        elif option == "learned":
            self.register_parameter(f"learned_{state}", nn.Parameter(torch.zeros(self.rows, self.width)))
        return option

    def extra_repr(self) -> str:
        def show(option: str | torch.Tensor) -> str:
            return f"tensor{tuple(option.shape)}" if isinstance(option, torch.Tensor) else option

        return (
            f"width={self.width}, depth={self.depth}, d={self.d}, init_hidden_state={show(self.init_hidden_state)}, "
            f"init_cell_state={show(self.init_cell_state)}, tracking={self.tracking}"
        )

    def _initial(self, state: str, batch_size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Initial values of ``state`` ('h0' or 'c0') for ``batch_size`` rows: ``(d*depth, batch, width)``."""
        option = self.init_hidden_state if state == "h0" else self.init_cell_state
        shape = (self.rows, batch_size, self.width)
        if isinstance(option, torch.Tensor):
            given = getattr(self, f"given_{state}")
            if given.ndim == 2:
                values = given.unsqueeze(1).expand(shape)
            elif given.shape[1] >= batch_size:
                values = given[:, :batch_size]
            else:
                raise KnowItDataError(
                    f"arch.internal_state: the given {state} tensor holds {given.shape[1]} rows "
                    f"(shape {tuple(given.shape)}) but the batch has {batch_size}; give shape "
                    f"(d*depth, width) = ({self.rows}, {self.width}) to broadcast, or at least {batch_size} rows"
                )
        elif option == "learned":
            values = getattr(self, f"learned_{state}").unsqueeze(1).expand(shape)
        elif option == "random":
            values = torch.randn(shape, generator=self._generator) * RANDOM_STATE_STD
        else:
            return torch.zeros(shape, device=device, dtype=dtype)
        return values.to(device=device, dtype=dtype).contiguous()

    def device_dtype(self) -> tuple[torch.device, torch.dtype]:
        """Device and dtype of the module's own floating tensors (CPU and the default dtype if none)."""
        for tensor in (*self.parameters(), *self.buffers()):
            if tensor.is_floating_point():
                return tensor.device, tensor.dtype
        return torch.device("cpu"), torch.get_default_dtype()

    def initialize(
        self, batch_size: int, *, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Set ``h0``, ``c0`` to the initial states for ``batch_size`` rows and return them.

        Device and dtype default to those of the module's own tensors (CPU float32 if none).
        Returns ``(h0, c0)``, each ``(d*depth, batch_size, width)``; with ``'learned'`` states the
        returned tensors carry gradients to the parameters, the stored copies are detached.
        """
        if device is None or dtype is None:
            default_device, default_dtype = self.device_dtype()
            device, dtype = device or default_device, dtype or default_dtype
        h0 = self._initial("h0", batch_size, device, dtype)
        c0 = self._initial("c0", batch_size, device, dtype)
        self.h0, self.c0 = h0.detach(), c0.detach()
        self._pending_reset = None
        return h0, c0

    def update(self, cn: torch.Tensor, hn: torch.Tensor) -> None:
        """Store the final cell and hidden states of a forward as the current ones, detached.

        ``cn``, ``hn``: ``(d*depth, batch, width)`` as returned by ``nn.LSTM``.
        """
        self._check_shape("cn", cn)
        self._check_shape("hn", hn)
        self.c0, self.h0 = cn.detach(), hn.detach()

    def hold(self, h: torch.Tensor, c: torch.Tensor) -> None:
        """Make ``(h, c)`` (``(d*depth, batch, width)``) the states the next ``current`` call
        continues from, detached; pending resets are dropped (the caller chose these states)."""
        self._check_shape("h", h)
        self._check_shape("c", c)
        self.h0, self.c0 = h.detach(), c.detach()
        self._pending_reset = None

    def _check_shape(self, name: str, tensor: torch.Tensor) -> None:
        if tensor.ndim != 3 or (tensor.shape[0], tensor.shape[2]) != (self.rows, self.width):
            raise KnowItDataError(
                f"InternalState: {name} has shape {tuple(tensor.shape)}; expected "
                f"(d*depth, batch, width) = ({self.rows}, batch, {self.width})"
            )

    def reset(self, mask: torch.Tensor | None = None) -> None:
        """Forget all stored states (``mask`` None) or send the rows where ``mask`` is True back to
        their initial states at the next ``current`` call. ``mask``: ``(batch,)`` booleans."""
        if mask is None:
            self.h0 = self.c0 = None
            self._pending_reset = None
            return
        mask = torch.as_tensor(mask).to(dtype=torch.bool).reshape(-1)
        if self._pending_reset is not None and self._pending_reset.shape == mask.shape:
            mask = mask | self._pending_reset.to(mask.device)
        self._pending_reset = mask

    def current(self, batch_size: int, *, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """The states a forward over ``batch_size`` rows starts from: ``(h0, c0)``.

        Without tracking, or with nothing stored, these are fresh initial states. With tracking,
        the stored states of the first ``batch_size`` rows, where rows pending a reset and rows
        beyond the stored batch take their initial values.
        """
        if not self.tracking or self.h0 is None or self.c0 is None:
            return self.initialize(batch_size, device=device, dtype=dtype)
        stored_rows = self.h0.shape[1]
        fresh = torch.arange(batch_size, device=device) >= stored_rows
        if self._pending_reset is not None:
            if self._pending_reset.numel() != batch_size:
                raise KnowItDataError(
                    f"reset mask has {self._pending_reset.numel()} rows but the batch has {batch_size}"
                )
            fresh |= self._pending_reset.to(device)
            self._pending_reset = None
        h, c = (self._fit_rows(s, batch_size).to(device=device, dtype=dtype) for s in (self.h0, self.c0))
        if bool(fresh.any()):
            rows = fresh.view(1, -1, 1)
            h = torch.where(rows, self._initial("h0", batch_size, device, dtype), h)
            c = torch.where(rows, self._initial("c0", batch_size, device, dtype), c)
        return h, c

    @staticmethod
    def _fit_rows(state: torch.Tensor, batch_size: int) -> torch.Tensor:
        """``state`` cut or zero-padded along the batch axis to ``batch_size`` rows."""
        if state.shape[1] >= batch_size:
            return state[:, :batch_size]
        pad = state.new_zeros(state.shape[0], batch_size - state.shape[1], state.shape[2])
        return torch.cat([state, pad], dim=1)
