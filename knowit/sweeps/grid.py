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


def swept_keys(overrides: Sequence[str]) -> set[str]:
    """The keys that ``overrides`` sweep (``a=1,2``, ``choice(..)``, ``range(..)``, ``interval(..)``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException:
        return set()
    return {item.get_key_element().lstrip("+~") for item in parsed if item.is_sweep_override()}


def interval_overrides(overrides: Sequence[str]) -> dict[str, str]:
    """``key=interval(a,b)`` overrides (a search sweeper samples them) as ``{key: 'interval(a,b)'}``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    out = {}
    for item in OverridesParser.create().parse_overrides(list(overrides)):
        if item.value_type is not None and item.value_type.name == "INTERVAL_SWEEP":
            out[item.get_key_element().lstrip("+")] = item.input_line.split("=", 1)[1]
    return out


def sweeper_settings(overrides: Sequence[str]) -> tuple[dict[str, str], str | None]:
    """The search space a sweeper config declares (``hydra.sweeper.params``, as override text)
    and its optimisation direction, if it has one."""
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from knowit.config.compose import CONFIG_MODULE, explain_hydra_error, normalize_overrides

    try:
        with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
            cfg = compose("config", overrides=normalize_overrides(overrides), return_hydra_config=True)
        params = OmegaConf.select(cfg, "hydra.sweeper.params")
        direction = OmegaConf.select(cfg, "hydra.sweeper.direction")
        space = {str(k): str(v) for k, v in (OmegaConf.to_container(params, resolve=False) or {}).items()} if params is not None else {}
        return space, str(direction) if isinstance(direction, str) else None
    except (HydraException, OmegaConfBaseException) as err:
        raise explain_hydra_error(err) from None


def search_space_jobs(params: Mapping[str, str]) -> list[list[str]]:
    """Jobs that together try every value a search space can take at its edges: the first value
    of every parameter, then each other choice (and an interval's upper end) one parameter at a
    time. Not a grid: it exists to check every value's config before a search starts."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    values: dict[str, list[str]] = {}
    for key, space in params.items():
        try:
            item = OverridesParser.create().parse_overrides([f"{key}={space}"])[0]
        except HydraException as err:
            first = str(err).strip().splitlines()[0]
            raise KnowItConfigError(f"hydra.sweeper.params.{key}: {first}") from None
        sweep = item.value()
        if item.value_type is not None and item.value_type.name == "INTERVAL_SWEEP":
            values[key] = [str(sweep.start), str(sweep.end)]
        elif item.is_sweep_override():
            values[key] = list(item.sweep_string_iterator())
        else:
            values[key] = [space]
    first = [f"{k}={v[0]}" for k, v in values.items()]
    jobs = [first]
    for i, (key, options) in enumerate(values.items()):
        for option in options[1:]:
            job = list(first)
            job[i] = f"{key}={option}"
            jobs.append(job)
    return jobs


def sweep_jobs(own: Sequence[str], hydra_own: Sequence[str]) -> tuple[list[list[str]], str | None]:
    """The override lists to validate before a multirun starts, and the sweeper's direction.

    ``own``: knowit's overrides (grid sweeps, ``key=interval(..)``); ``hydra_own``: ``hydra*``
    overrides (launcher, sweeper settings), which may not be swept themselves. The jobs are the
    grid's, with a search sweeper's space (declared by ``hparams_search`` or given as intervals)
    tried value by value on top of the first one."""
    for item in hydra_own:
        key = item.split("=", 1)[0]
        if len(expand_grid([item])) > 1 or "interval(" in item or key.startswith("hydra.sweeper.params."):
            raise KnowItConfigError(f"{key}: give a search space on the key itself, e.g. arch.width=choice(32,64) "
                                    "or arch.dropout=interval(0.0,0.5) (Hydra's own settings cannot be swept)")
    jobs = expand_grid(own)
    declared, direction = sweeper_settings(jobs[0] + list(hydra_own))
    given = {parse_override(o)[0] for o in own}
    space = {k: v for k, v in declared.items() if k not in given} | interval_overrides(own)
    if space:
        base = [o for o in jobs[0] if parse_override(o)[0] not in space]
        jobs = [base + extra for extra in search_space_jobs(space)] + jobs[1:]
    return jobs, direction
