"""Keras's weight initialisers and L1/L2 regularisers, for layers that follow Keras's arguments.

``keras_init(name, shape)`` fills a tensor of Keras layout (kernels ``(K, C_in, C_out)``) the
way Keras's initialiser of that name does; ``regularizer(spec)`` turns a Keras regulariser spec
into ``(l1, l2)`` factors.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from knowit.errors import KnowItConfigError

INITIALIZERS = (
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
    "orthogonal", "zeros", "ones", "random_normal", "random_uniform", "truncated_normal",
)


def _fans(shape: Sequence[int]) -> tuple[int, int]:
    """Keras's fans of a conv kernel ``(K, C_in, C_out)``: receptive field x channels."""
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def keras_init(name: str, shape: Sequence[int], key: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """A tensor of Keras layout ``shape`` initialised the way Keras's initialiser ``name`` does."""
    name = str(name).lower()
    fan_in, fan_out = _fans(shape)
    t = torch.empty(*shape)
    if name == "zeros":
        return t.zero_()
    if name == "ones":
        return t.fill_(1.0)
    if name == "random_normal":
        return t.normal_(0.0, 0.05, generator=generator)
    if name == "random_uniform":
        return t.uniform_(-0.05, 0.05, generator=generator)
    if name == "truncated_normal":
        return nn.init.trunc_normal_(t, 0.0, 0.05, -0.1, 0.1, generator=generator)
    if name == "orthogonal":
        flat = torch.empty(int(np.prod(shape[:-1])), shape[-1])
        return nn.init.orthogonal_(flat, generator=generator).reshape(*shape)
    variance = {
        "glorot": 2.0 / (fan_in + fan_out), "he": 2.0 / fan_in, "lecun": 1.0 / fan_in,
    }
    family, _, kind = name.partition("_")
    if family not in variance or kind not in ("uniform", "normal"):
        raise KnowItConfigError(f"{key}: {name!r} is not an initializer; choose one of: {', '.join(INITIALIZERS)}")
    if kind == "uniform":
        limit = math.sqrt(3.0 * variance[family])
        return t.uniform_(-limit, limit, generator=generator)
    std = math.sqrt(variance[family]) / 0.87962566103423978  # Keras: truncated normal within 2 std
    return nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std, generator=generator)



def regularizer(spec: Any, key: str) -> tuple[float, float]:
    """``(l1, l2)`` from None, 'l1', 'l2', 'l1_l2' (Keras's 0.01 defaults) or ``{'l1': a, 'l2': b}``."""
    if spec is None:
        return 0.0, 0.0
    if isinstance(spec, str):
        table = {"l1": (0.01, 0.0), "l2": (0.0, 0.01), "l1_l2": (0.01, 0.01)}
        if spec.lower() not in table:
            raise KnowItConfigError(f"{key}: {spec!r} is not a regularizer; use l1, l2, l1_l2 or {{l1: a, l2: b}}")
        return table[spec.lower()]
    if isinstance(spec, dict) and set(spec) <= {"l1", "l2"}:
        l1, l2 = float(spec.get("l1", 0.0)), float(spec.get("l2", 0.0))
        if l1 < 0 or l2 < 0:
            raise KnowItConfigError(f"{key}: l1 and l2 must be >= 0")
        return l1, l2
    raise KnowItConfigError(f"{key}: {spec!r} is not a regularizer; use l1, l2, l1_l2 or {{l1: a, l2: b}}")
