"""Sweep grids: expand Hydra sweep overrides (``a=1,2 b=range(3)``) into one override list per job.

The same expansion serves the CLI (to validate every job's config before the first one starts)
and the Python API's ``KI.sweep`` (which runs the jobs itself, one after another).
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from knowit.errors import KnowItConfigError


def expand_grid(overrides: Sequence[str]) -> list[list[str]]:
    """The cartesian product of the sweep overrides, in Hydra's basic-sweeper order.

    Search-space overrides (``interval(...)``, ``tag(...)``) belong to a search sweeper such as
    Optuna; they are left out here (the sweeper samples them)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as err:
        first = str(err).strip().splitlines()[0]
        raise KnowItConfigError(f"overrides: {first}") from None
    axes: list[list[str]] = []
    for item in parsed:
        if item.is_sweep_override():
            if item.value_type is not None and item.value_type.name == "INTERVAL_SWEEP":
                continue
            key = item.get_key_element()
            axes.append([f"{key}={value}" for value in item.sweep_string_iterator()])
        else:
            axes.append([item.input_line])
    return [list(job) for job in itertools.product(*axes)]


def override_value(value: Any) -> str:
    """A Python value as Hydra override text (``None`` -> ``null``, strings quoted when needed)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        plain = value and all(c.isalnum() or c in "._-/" for c in value)
        return value if plain else json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{override_value(v)}" for k, v in value.items()) + "}"
    raise KnowItConfigError(f"grid: cannot sweep over a value of type {type(value).__name__} ({value!r})")


def grid_overrides(grid: Mapping[str, Iterable[Any]]) -> list[list[str]]:
    """``{'arch.width': [32, 64], 'trainer.learning_rate': [1e-3, 1e-2]}`` -> one override list per job."""
    if not isinstance(grid, Mapping) or not grid:
        raise KnowItConfigError("grid: expected a non-empty mapping of config key -> list of values")
    axes = []
    for key, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise KnowItConfigError(f"grid.{key}: expected a list of values, got {values!r}")
        values = list(values)
        if not values:
            raise KnowItConfigError(f"grid.{key}: the list of values is empty")
        axes.append([f"{key}={override_value(v)}" for v in values])
    return [list(job) for job in itertools.product(*axes)]


def parse_override(item: str) -> tuple[str, str]:
    """``+arch.width=32`` -> (``arch.width``, ``32``)."""
    key, _, value = item.partition("=")
    return key.lstrip("+~"), value
