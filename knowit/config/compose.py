"""Compose ``knowit.conf`` with overrides (Hydra's compose API) and fold in API kwargs.

The CLI composes through ``@hydra.main``; both doors pass their overrides through
``normalize_overrides`` so that a misspelled key reaches the validator (which names it and lists
the allowed keys) instead of failing inside Hydra with a struct error, and so that the
experiment directory's imported data configs (``<exp_dir>/conf/data``) are choices of ``data``.
"""
from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from knowit.config.imported_data import exp_dir_of, imported_choices, searchpath_override
from knowit.errors import KnowItConfigError

CONFIG_MODULE = "knowit.conf"
SELECTABLE_GROUPS = ("data", "arch", "trainer", "experiment", "hparams_search")


def group_choices(group: str, exp_dir: str | os.PathLike | None = None) -> list[str]:
    """The YAML choices shipped for a config group (for ``data``, with the datasets imported into
    ``exp_dir``)."""
    folder = resources.files(CONFIG_MODULE) / group
    shipped = [p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")] if folder.is_dir() else []
    imported = imported_choices(exp_dir) if group == "data" else []
    return sorted(set(shipped) | set(imported))


def normalize_overrides(overrides: Iterable[str], exp_dir: str | os.PathLike | None = None) -> list[str]:
    """Turn ``key=value`` into ``++key=value`` for config keys (not group choices or hydra keys),
    and add the experiment directory's ``conf/`` (imported data configs) to Hydra's search path.

    ``arch.name=<plugin>`` naming an architecture with no shipped YAML (a user's dotted path)
    drops the default arch config, so the plugin starts from its own ``ArchArgs`` defaults
    rather than inheriting another architecture's keys.
    """
    overrides = list(overrides)
    keys = [item.split("=", 1)[0].lstrip("+") for item in overrides]
    for item in overrides:
        key, _, value = item.partition("=")
        if key.lstrip("+") == "arch.name" and "arch" not in keys and "~arch" not in keys:
            if value.lower() not in group_choices("arch") and "," not in value:
                overrides = ["~arch", *overrides]
                break
    out = []
    for item in overrides:
        key = item.split("=", 1)[0]
        plain = "=" in item and not key.startswith(("+", "~")) and not key.startswith("hydra")
        if plain and key not in SELECTABLE_GROUPS and "/" not in key and "@" not in key:
            item = "++" + item
        out.append(item)
    searchpath = searchpath_override(exp_dir_of(overrides, exp_dir))
    if searchpath and not any(k.lstrip("+") == "hydra.searchpath" for k in keys):
        out.append(searchpath)
    return out


def explain_hydra_error(err: Exception, exp_dir: str | os.PathLike | None = None) -> KnowItConfigError:
    """One line for a Hydra composition error (unknown group choice, bad override syntax)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    for group in SELECTABLE_GROUPS:
        if f"'{group}/" in text or f"'{group}'" in text:
            choices = group_choices(group, exp_dir)
            return KnowItConfigError(f"{group}: {text}; available choices: {', '.join(choices)}")
    import re

    hydra_group = re.search(r"'(hydra/[a-z_]+)/[^']*'", text)
    if hydra_group:  # hydra/launcher, hydra/sweeper, ...: Hydra's own group, with its plugins' choices
        return KnowItConfigError(f"{hydra_group.group(1)}: {text} (is the plugin installed? pip install 'knowit[sweep]' or 'knowit[cluster]')")
    return KnowItConfigError(f"overrides: {text}")


def compose(overrides: Iterable[str] = (), exp_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The resolved config for ``overrides`` as plain containers (no HydraConfig is set);
    ``exp_dir`` (else the one the overrides or the environment name) supplies imported data configs."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    overrides = list(overrides)
    try:
        with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
            cfg = hydra_compose("config", overrides=normalize_overrides(overrides, exp_dir))
        return OmegaConf.to_container(cfg, resolve=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise explain_hydra_error(err, exp_dir_of(overrides, exp_dir)) from None


def _flatten_knowit_arch(arch: Mapping[str, Any]) -> dict[str, Any]:
    """KnowIt's ``{'name', 'task', 'arch_hps': {'arch_args': ..., 'internal_state': ...}}`` -> flat."""
    arch = dict(arch)
    hps = arch.pop("arch_hps", None) or {}
    if not isinstance(hps, Mapping):
        raise KnowItConfigError("arch.arch_hps: expected a mapping with arch_args and internal_state")
    unknown = set(hps) - {"arch_args", "internal_state"}
    if unknown:
        raise KnowItConfigError(f"arch.arch_hps.{sorted(unknown)[0]}: unknown key; allowed keys: arch_args, internal_state")
    arch.update(hps.get("arch_args") or {})
    if hps.get("internal_state") is not None:
        arch["internal_state"] = dict(hps["internal_state"])
    return arch


def config_from_kwargs(kwargs: Mapping[str, Any] | None, overrides: Iterable[str] = (),
                       exp_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The API door: KnowIt-style kwargs ``{'data':…, 'arch':…, 'trainer':…}`` on top of overrides.

    A group whose ``name`` matches a shipped YAML choice starts from that file; otherwise it starts
    from the schema defaults. ``task`` may be repeated in ``arch`` and ``trainer`` (KnowIt's form)
    but must agree with ``data.task``. A dataset imported into ``exp_dir`` starts from its
    generated data config, like a shipped one.
    """
    overrides = list(overrides)
    data_choices = group_choices("data", exp_dir_of(overrides, exp_dir))
    kwargs = copy.deepcopy(dict(kwargs or {}))
    unknown = set(kwargs) - {"data", "arch", "trainer"}
    if unknown:
        raise KnowItConfigError(f"kwargs.{sorted(unknown)[0]}: unknown group; allowed: data, arch, trainer")
    for group in ("data", "arch", "trainer"):
        if kwargs.get(group) is not None and not isinstance(kwargs[group], Mapping):
            raise KnowItConfigError(f"{group}: expected a mapping of {group} arguments")
    data = dict(kwargs.get("data") or {})
    arch = _flatten_knowit_arch(kwargs.get("arch") or {})
    trainer = dict(kwargs.get("trainer") or {})

    tasks = {f"{g}.task": node.pop("task") for g, node in (("arch", arch), ("trainer", trainer)) if "task" in node}
    if tasks and "task" not in data:
        data["task"] = next(iter(tasks.values()))
    for key, task in tasks.items():
        if task != data.get("task"):
            raise KnowItConfigError(f"{key}: {task!r} disagrees with data.task={data.get('task')!r}")

    choices: list[str] = []
    name = data.get("name")
    if isinstance(name, str) and name in data_choices:
        choices.append(f"data={name}")
    arch_name = arch.get("name")
    arch_choice = arch_name.lower() if isinstance(arch_name, str) else None
    if arch_choice in group_choices("arch"):
        choices.append(f"arch={arch_choice}")
    composed = compose([*choices, *overrides], exp_dir)
    cfg = copy.deepcopy(composed)
    if data and not (isinstance(name, str) and name in data_choices) and "name" in data:
        cfg["data"] = data  # a user's dataset: schema defaults, not another dataset's settings
    else:
        cfg["data"].update(data)
    if arch and arch_choice not in group_choices("arch") and "name" in arch:
        cfg["arch"] = arch
    else:
        _deep_update(cfg["arch"], {k: v for k, v in arch.items() if k != "name"})
    _deep_update(cfg["trainer"], trainer)
    _reapply_overrides(cfg, composed, overrides)
    return cfg


def _reapply_overrides(cfg: dict[str, Any], composed: Mapping[str, Any], overrides: Iterable[str]) -> None:
    """Explicit overrides win over kwargs: copy each overridden key's composed value back."""
    for item in overrides:
        key = item.split("=", 1)[0].lstrip("+")
        if "=" not in item or key.startswith(("~", "hydra")) or key in SELECTABLE_GROUPS:
            continue
        *parents, leaf = key.split(".")
        source: Any = composed
        target: Any = cfg
        for part in parents:
            source = source.get(part) if isinstance(source, Mapping) else None
            target = target.setdefault(part, {}) if isinstance(target, dict) else None
        if isinstance(source, Mapping) and leaf in source and isinstance(target, dict):
            target[leaf] = copy.deepcopy(source[leaf])


def _deep_update(base: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
