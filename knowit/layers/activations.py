"""The one activation lookup of knowit's layers and architectures.

A name (case-insensitive) is a Keras activation (``tanh``, ``sigmoid``, ``hard_sigmoid``,
``relu``, ``swish``, ``linear``, ...) or any argument-free ``torch.nn`` activation class
(``Tanh``, ``Softplus``, ``PReLU``, ``LogSoftmax``, ...); ``None`` means none (identity).
``get_activation`` gives a function (recurrent layers call it per step and recognise the
plain ``torch.tanh``/``torch.sigmoid`` for their fast path); ``activation_module`` gives an
``nn.Module`` for ``nn.Sequential`` stacks and heads.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from knowit.errors import KnowItConfigError

# Keras's activation functions by Keras's names.
KERAS_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": lambda x: F.relu6(x + 3.0) / 6.0,  # Keras 3's definition
    "relu": F.relu,
    "relu6": F.relu6,
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "silu": F.silu,
    "swish": F.silu,
    "softsign": F.softsign,
    "softplus": F.softplus,
    "linear": lambda x: x,
}

# Activations whose reduction axis must be named; the last axis is the feature axis.
_LAST_AXIS = ("Softmax", "Softmin", "LogSoftmax")


def _torch_classes() -> dict[str, type[nn.Module]]:
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


TORCH_CLASSES = _torch_classes()
# Every accepted name, lower case (schemas use it as ``choices``: the validator matches any case).
ACTIVATIONS = tuple(sorted(set(KERAS_FUNCTIONS) | set(TORCH_CLASSES)))


def _torch_module(name: str) -> nn.Module | None:
    cls = TORCH_CLASSES.get(name)
    if cls is None:
        return None
    return cls(dim=-1) if cls.__name__ in _LAST_AXIS else cls()


def _unknown(name: object, key: str) -> KnowItConfigError:
    return KnowItConfigError(f"{key}: {name!r} is not an activation; choose one of: null, {', '.join(ACTIVATIONS)}")


def get_activation(name: str | None, key: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation ``name`` as a function (Keras's functions first); ``key`` names it in errors."""
    lower = "linear" if name is None else str(name).lower()
    if lower in KERAS_FUNCTIONS:
        return KERAS_FUNCTIONS[lower]
    module = _torch_module(lower)
    if module is None:
        raise _unknown(name, key)
    return module


class Activation(nn.Module):
    """A named Keras activation function as a module (no parameters)."""

    def __init__(self, name: str | None, key: str):
        super().__init__()
        self.name, self.fn = name, get_activation(name, key)

    def extra_repr(self) -> str:
        return repr(self.name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def activation_module(name: str | None, key: str) -> nn.Module:
    """The activation ``name`` as a module: a ``torch.nn`` class where one has the name (it may
    carry parameters, e.g. PReLU), else the Keras function wrapped; ``None`` gives Identity."""
    if name is None:
        return nn.Identity()
    module = _torch_module(str(name).lower())
    return module if module is not None else Activation(name, key)
