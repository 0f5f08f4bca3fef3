"""LSTM: a stack of ``torch.nn.LSTM`` layers and a linear head, with configurable initial states.

Shapes
    input ``x``: ``(batch, in_len, n_in)`` where ``input_dim = [in_len, n_in]``;
    regression output ``(batch, out_len, n_out)`` where ``output_dim = [out_len, n_out]``
    (any ``output_dim`` works: the head predicts ``prod(output_dim)`` values and reshapes);
    classification logits ``(batch, n_classes)`` where ``output_dim = [n_classes]``.

Heads (``ArchArgs.head``)
    ``'last'`` (default) feeds the final hidden state of each direction of the top layer to the
    linear head: the output at the last time step for the forward direction, and the output at
    step 0 (after reading the whole window backwards) for the backward one. It is the default
    because its size does not depend on the window length (``d * width`` features), it accepts
    windows of any length, and with tracking the state it reads summarises the whole stream.
    ``'sequence'`` flattens the outputs of every time step (``in_len * d * width`` features),
    as the original KnowIt LSTM does; it sees each step directly but needs a fixed ``in_len``.

Dropout
    ``dropout`` applies between stacked LSTM layers (``nn.LSTM``'s own dropout, so only when
    ``depth > 1``) and to the features entering the head.

Output activation
    ``output_activation`` names any argument-free ``torch.nn`` activation class, case-insensitively
    (``'Tanh'``, ``'sigmoid'``, ``'Softplus'``; see ``ACTIVATIONS``); ``None`` means none. It is
    applied to the head's output for both tasks; for classification that output is read as logits
    by the cross-entropy loss, so leave it ``None`` there unless you mean it. Softmax, Softmin and
    LogSoftmax act over the last axis.

Initial states (``Internal.init_hidden_state`` / ``init_cell_state``)
    ``None`` or ``'zeros'``: zeros. ``'random'``: fresh draws from ``N(0, RANDOM_STATE_STD**2)``
    (standard normal scaled by ``RANDOM_STATE_STD = 0.1``, the same for h and c) every time states
    are (re-)initialised. The draws come from a private ``torch.Generator`` seeded at construction
    with ``torch.initial_seed()``, i.e. the seed last given to ``torch.manual_seed`` (which
    Lightning's ``seed_everything`` and knowit's ``seed`` call): the same seed and the same
    sequence of batches reproduce the same draws, and the global random stream is left untouched.
    ``'learned'``: a trainable ``(d*depth, width)`` parameter, initialised to zeros, shared by
    every row. A tensor (a nested list of numbers in YAML/JSON, or a ``torch.Tensor`` through the
    API): shape ``(d*depth, width)``, broadcast over the batch, or ``(d*depth, batch, width)``,
    one state per row (a smaller batch uses its first rows). ``d`` is 2 when bidirectional.

Tracking (``Internal.tracking``: stateful training, truncated backpropagation through time)
    With tracking on, the final ``(h, c)`` of one forward become the initial states of the next
    forward's rows, detached, so gradients stop at batch boundaries while the state flows on.
    This assumes row ``i`` of consecutive batches continues the same contiguous stream.
    ``reset_states()`` forgets every row (the next forward starts from the init states at that
    batch's size); ``reset_states(mask)`` sends the rows where ``mask`` is True back to their init
    states at the next forward (slice or instance boundaries). When the batch size changes, the
    first rows keep their states (a final short batch carries the first streams), stored rows
    beyond the new size are dropped and new rows beyond the stored size start from the init
    states. Without tracking every forward starts from the init states. With ``bidirectional``
    the backward direction's state is carried too, although it was computed reading the previous
    chunk backwards; tracking is meant for unidirectional models.

    Current states are non-persistent buffers: they follow ``.to(device)`` but stay out of the
    ``state_dict``, so checkpoints hold learned weights only (``'learned'`` states included).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from knowit.config.validate import FieldError, build, to_plain
from knowit.errors import KnowItConfigError, KnowItDataError

TASKS = ("regression", "classification")
HEADS = ("last", "sequence")
INIT_CHOICES = ("zeros", "random", "learned")
RANDOM_STATE_STD = 0.1

# Activations whose reduction axis must be named; the last axis is the feature axis.
_LAST_AXIS_ACTIVATIONS = ("Softmax", "Softmin", "LogSoftmax")


def _activation_classes() -> dict[str, type[nn.Module]]:
    """Argument-free activation classes of ``torch.nn``, keyed by lower-case name."""
    found = {}
    for name in nn.modules.activation.__all__:
        cls = getattr(nn, name, None)
        if not isinstance(cls, type) or not issubclass(cls, nn.Module) or cls is nn.MultiheadAttention:
            continue
        try:
            cls()
        except TypeError:  # needs arguments (Threshold)
            continue
        found[name.lower()] = cls
    return found


_ACTIVATIONS = _activation_classes()
ACTIVATIONS = tuple(sorted(cls.__name__ for cls in _ACTIVATIONS.values()))


def get_output_activation(output_activation: str | None) -> nn.Module:
    """The ``torch.nn`` activation named ``output_activation`` (case-insensitive); ``None`` gives Identity."""
    if output_activation is None:
        return nn.Identity()
    cls = _ACTIVATIONS.get(str(output_activation).lower())
    if cls is None:
        raise KnowItConfigError(
            f"arch.output_activation: {output_activation!r} is not a torch.nn activation; "
            f"choose one of: null, {', '.join(ACTIVATIONS)}"
        )
    return cls(dim=-1) if cls.__name__ in _LAST_AXIS_ACTIVATIONS else cls()


@dataclass
class Internal:
    """How the LSTM's hidden and cell states start, and whether they carry over between batches.

    ``init_hidden_state`` / ``init_cell_state``: ``None`` (zeros) | ``'zeros'`` | ``'random'`` |
    ``'learned'`` | a tensor of shape ``(d*depth, width)`` or ``(d*depth, batch, width)`` given as a
    nested list of numbers (or a ``torch.Tensor`` through the API). ``tracking``: carry the final
    states of a batch into the next one (stateful LSTM; see the module docstring).
    """

    init_hidden_state: Any = None  # null/zeros, random, learned, or a tensor (d*depth, width) as nested lists
    init_cell_state: Any = None  # as init_hidden_state, for the cell state
    tracking: bool = False  # carry final states into the next batch (needs data.batch_sampling=contiguous)


@dataclass
class ArchArgs:
    """Hyperparameters of the LSTM (see the module docstring for heads, dropout and states)."""

    width: int = field(default=256, metadata={"ge": 1})  # hidden units per LSTM layer
    depth: int = field(default=1, metadata={"ge": 1})  # stacked LSTM layers
    dropout: float = field(default=0.5, metadata={"ge": 0.0, "lt": 1.0})  # between LSTM layers and before the linear head
    output_activation: Optional[str] = field(default=None, metadata={"choices": ACTIVATIONS})  # on the model output; null: none
    bidirectional: bool = False  # bidirectional LSTM
    head: str = field(default="last", metadata={"choices": HEADS})  # last: the final hidden state feeds the head; sequence: every step's output
    internal_state: Internal = field(default_factory=Internal)  # initial states and tracking (stateful LSTM)

    def check(self) -> None:
        """Initial-state options must be valid choices and tensors must fit ``width`` and ``depth``."""
        rows = (2 if self.bidirectional else 1) * self.depth
        for key in ("init_hidden_state", "init_cell_state"):
            try:
                _parse_init(getattr(self.internal_state, key), rows, self.width)
            except ValueError as err:
                raise FieldError(f"internal_state.{key}", str(err)) from None


def _parse_init(value: Any, rows: int, width: int) -> str | torch.Tensor:
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
            option = _parse_init(value, self.rows, self.width)
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

    def _default_device_dtype(self) -> tuple[torch.device, torch.dtype]:
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
            default_device, default_dtype = self._default_device_dtype()
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
        expected = (self.rows, self.width)
        for name, tensor in (("cn", cn), ("hn", hn)):
            if tensor.ndim != 3 or (tensor.shape[0], tensor.shape[2]) != expected:
                raise KnowItDataError(
                    f"InternalState.update: {name} has shape {tuple(tensor.shape)}; expected "
                    f"(d*depth, batch, width) = ({self.rows}, batch, {self.width})"
                )
        self.c0, self.h0 = cn.detach(), hn.detach()

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


def _arch_args(args: ArchArgs | dict[str, Any] | None, internal_state: Internal | dict[str, Any] | None) -> ArchArgs:
    """Validated ArchArgs from a dataclass or a mapping; ``internal_state`` overrides its namesake
    (an ``Internal`` replaces it, a mapping overrides the keys it names)."""
    plain: dict[str, Any] = to_plain(args) if isinstance(args, ArchArgs) else dict(args or {})
    if internal_state is not None:
        if isinstance(internal_state, Internal):
            plain["internal_state"] = to_plain(internal_state)
        else:
            base = plain.get("internal_state") or {}
            base = to_plain(base) if isinstance(base, Internal) else dict(base)
            plain["internal_state"] = {**base, **dict(internal_state)}
    return build(ArchArgs, plain, "arch")


class Model(nn.Module):
    """LSTM layers followed by dropout, a linear head and an optional output activation.

    Args:
        input_dim: ``[in_len, n_in]``, one input window without the batch axis.
        output_dim: ``[out_len, n_out]`` (regression) or ``[n_classes]`` (classification).
        task_name: one of ``TASKS``.
        args: ``ArchArgs`` or a mapping of its fields (validated; bad values raise KnowItConfigError).
        internal_state: ``Internal`` or a mapping overriding ``args.internal_state``.

    Attributes: ``lstm_layers`` (``nn.LSTM``, batch first), ``model_output`` (dropout + linear),
    ``output_activation``, ``_internal`` (``InternalState``), ``input_size``, ``model_out_dim``,
    ``final_out_shape``.
    """

    def __init__(
        self,
        input_dim: list[int],
        output_dim: list[int],
        task_name: str,
        args: ArchArgs | dict[str, Any] | None = None,
        internal_state: Internal | dict[str, Any] | None = None,
    ):
        super().__init__()
        if task_name not in TASKS:
            raise KnowItConfigError(f"task: {task_name!r} is not supported by the LSTM; choose one of: {', '.join(TASKS)}")
        if len(input_dim) != 2:
            raise KnowItConfigError(f"input_dim: the LSTM needs [in_len, n_in], got {list(input_dim)}")
        if task_name == "classification" and len(output_dim) != 1:
            raise KnowItConfigError(f"output_dim: classification needs [n_classes], got {list(output_dim)}")
        self.args = _arch_args(args, internal_state)
        a = self.args
        self.task_name = task_name
        self.in_len, self.input_size = int(input_dim[0]), int(input_dim[1])
        self.final_out_shape = [int(n) for n in output_dim]
        self.model_out_dim = math.prod(self.final_out_shape)
        self.head = a.head
        self.d = 2 if a.bidirectional else 1
        self.lstm_layers = nn.LSTM(
            self.input_size,
            a.width,
            num_layers=a.depth,
            batch_first=True,
            dropout=a.dropout if a.depth > 1 else 0.0,  # nn.LSTM warns about dropout with one layer
            bidirectional=a.bidirectional,
        )
        features = self.d * a.width * (self.in_len if a.head == "sequence" else 1)
        self.model_output = nn.Sequential(nn.Dropout(a.dropout), nn.Linear(features, self.model_out_dim))
        self.output_activation = get_output_activation(a.output_activation)
        state = a.internal_state
        self._internal = InternalState(
            a.width,
            a.depth,
            state.init_hidden_state,
            state.init_cell_state,
            track_hidden=state.tracking,
            bidirect=a.bidirectional,
        )

    @property
    def stateful(self) -> bool:
        """True when states carry over between forwards (``internal_state.tracking``)."""
        return self._internal.tracking

    def reset_states(self, mask: torch.Tensor | None = None) -> None:
        """Reset all tracked states (``mask`` None) or the rows of the next batch where ``mask`` is True."""
        self._internal.reset(mask)

    def get_states(self, batch_size: int) -> list[torch.Tensor]:
        """The ``[h, c]`` the next forward over ``batch_size`` rows starts from, batch first
        ``(batch, d*depth, width)`` (pending resets applied). Used to replay a stream's context."""
        device, dtype = self._internal._default_device_dtype()
        h, c = self._internal.current(batch_size, device=device, dtype=dtype)
        self._internal.h0, self._internal.c0 = h.detach(), c.detach()
        return [h.transpose(0, 1), c.transpose(0, 1)]

    def set_states(self, states: list[torch.Tensor]) -> None:
        """Start the next forward from ``[h, c]`` as returned by ``get_states`` (one row per sample)."""
        h, c = states
        self._internal.h0, self._internal.c0 = h.transpose(0, 1).contiguous(), c.transpose(0, 1).contiguous()
        self._internal._pending_reset = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, in_len, n_in)`` -> ``(batch, *output_dim)`` (classification: logits)."""
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise KnowItDataError(f"LSTM input must be (batch, in_len, {self.input_size}), got {tuple(x.shape)}")
        if self.head == "sequence" and x.shape[1] != self.in_len:
            raise KnowItDataError(f"LSTM head 'sequence' needs in_len = {self.in_len} steps, got {x.shape[1]}")
        batch = x.shape[0]
        h0, c0 = self._internal.current(batch, device=x.device, dtype=x.dtype)
        out, (hn, cn) = self.lstm_layers(x, (h0, c0))
        if self._internal.tracking:
            self._internal.update(cn, hn)
        if self.head == "last":
            features = hn[-self.d :].transpose(0, 1).reshape(batch, -1)  # top layer, every direction
        else:
            features = out.reshape(batch, -1)
        y = self.model_output(features).view(batch, *self.final_out_shape)
        return self.output_activation(y)
