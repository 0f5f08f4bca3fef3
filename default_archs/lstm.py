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
    ``output_activation`` names any argument-free ``torch.nn`` activation class or Keras activation,
    case-insensitively (``'Tanh'``, ``'sigmoid'``, ``'Softplus'``, ``'swish'``; see
    ``knowit.layers.activations``); ``None`` means none. It is
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

Residual (``residual``, KnowIt's LSTMv2)
    The stack runs layer by layer and, from the second layer on, adds each layer's input to its
    output (the widths match: ``d * width``); dropout applies to each layer's input from the
    second layer on. The ``last`` head reads the residual stream where each direction ends.

Tracking (``Internal.tracking``, or ``stateful: true`` as KnowIt's LSTMv2 names it: stateful
training, truncated backpropagation through time)
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

    The states live in a ``knowit.layers.InternalState`` (attribute ``_internal``). Current
    states are non-persistent buffers: they follow ``.to(device)`` but stay out of the
    ``state_dict``, so checkpoints hold learned weights only (``'learned'`` states included).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from knowit.config.validate import FieldError, build, to_plain
from knowit.errors import KnowItConfigError, KnowItDataError
from knowit.layers.activations import ACTIVATIONS, activation_module
from knowit.layers.internal_state import InternalState, parse_init_state

TASKS = ("regression", "classification")
STATEFUL_ARG = ("internal_state.tracking", "stateful")  # either on: states carry over between batches
INPUT_LAYOUT = "series"
HEADS = ("last", "sequence")

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
    residual: bool = False  # add each stacked layer's input to its output (KnowIt's LSTMv2; needs depth >= 2)
    stateful: bool = False  # carry states between batches, the same as internal_state.tracking (KnowIt's LSTMv2)

    def check(self) -> None:
        """Initial-state options must be valid choices and tensors must fit ``width`` and ``depth``."""
        if self.residual and self.depth < 2:
            raise FieldError("residual", "needs depth >= 2: the skip connections join stacked layers")
        rows = (2 if self.bidirectional else 1) * self.depth
        for key in ("init_hidden_state", "init_cell_state"):
            try:
                parse_init_state(getattr(self.internal_state, key), rows, self.width)
            except ValueError as err:
                raise FieldError(f"internal_state.{key}", str(err)) from None


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
        self.residual = a.residual
        if a.residual:  # one nn.LSTM per layer, so each layer's input can be added to its output
            self.lstm_layers: nn.Module = nn.ModuleList(
                nn.LSTM(self.input_size if k == 0 else self.d * a.width, a.width, batch_first=True, bidirectional=a.bidirectional)
                for k in range(a.depth)
            )
            self.layer_dropout = nn.Dropout(a.dropout)
        else:
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
        self.output_activation = activation_module(a.output_activation, "arch.output_activation")
        state = a.internal_state
        self._internal = InternalState(
            a.width,
            a.depth,
            state.init_hidden_state,
            state.init_cell_state,
            track_hidden=state.tracking or a.stateful,
            bidirect=a.bidirectional,
        )

    @property
    def stateful(self) -> bool:
        """True when states carry over between forwards (``stateful`` or ``internal_state.tracking``)."""
        return self._internal.tracking

    def reset_states(self, mask: torch.Tensor | None = None) -> None:
        """Reset all tracked states (``mask`` None) or the rows of the next batch where ``mask`` is True."""
        self._internal.reset(mask)

    def get_states(self, batch_size: int) -> list[torch.Tensor]:
        """The ``[h, c]`` the next forward over ``batch_size`` rows starts from, batch first
        ``(batch, d*depth, width)`` (pending resets applied). Used to replay a stream's context."""
        device, dtype = self._internal.device_dtype()
        h, c = self._internal.current(batch_size, device=device, dtype=dtype)
        self._internal.hold(h, c)
        return [h.transpose(0, 1), c.transpose(0, 1)]

    def set_states(self, states: list[torch.Tensor]) -> None:
        """Start the next forward from ``[h, c]`` as returned by ``get_states`` (one row per sample)."""
        h, c = states
        self._internal.hold(h.transpose(0, 1).contiguous(), c.transpose(0, 1).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, in_len, n_in)`` -> ``(batch, *output_dim)`` (classification: logits)."""
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise KnowItDataError(f"LSTM input must be (batch, in_len, {self.input_size}), got {tuple(x.shape)}")
        if self.head == "sequence" and x.shape[1] != self.in_len:
            raise KnowItDataError(f"LSTM head 'sequence' needs in_len = {self.in_len} steps, got {x.shape[1]}")
        batch = x.shape[0]
        h0, c0 = self._internal.current(batch, device=x.device, dtype=x.dtype)
        if self.residual:
            out, (hn, cn) = self._residual_stack(x, h0, c0)
        else:
            out, (hn, cn) = self.lstm_layers(x, (h0, c0))
        if self._internal.tracking:
            self._internal.update(cn, hn)
        if self.head == "last" and self.residual:
            # The residual stream at the step each direction ends on: forward at the last step, backward at step 0.
            ends = [out[:, -1, : self.args.width]] + ([out[:, 0, self.args.width :]] if self.d == 2 else [])
            features = torch.cat(ends, dim=1)
        elif self.head == "last":
            features = hn[-self.d :].transpose(0, 1).reshape(batch, -1)  # top layer, every direction
        else:
            features = out.reshape(batch, -1)
        y = self.model_output(features).view(batch, *self.final_out_shape)
        return self.output_activation(y)

    def _residual_stack(self, x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Layer by layer; from the second layer on, a layer's input is added to its output.
        States are laid out as ``nn.LSTM``'s, ``(d*depth, batch, width)``, layer-major."""
        hs, cs = [], []
        out = x
        for k, layer in enumerate(self.lstm_layers):
            rows = slice(k * self.d, (k + 1) * self.d)
            layer_in = self.layer_dropout(out) if k > 0 else out
            y, (h, c) = layer(layer_in, (h0[rows].contiguous(), c0[rows].contiguous()))
            out = y + out if k > 0 else y
            hs.append(h)
            cs.append(c)
        return out, (torch.cat(hs), torch.cat(cs))
