"""Resume from the run's own config: ``trainer.resume=m trainer.max_epochs=20`` starts from the
``config.yaml`` that run ``m`` saved and changes only the keys the user gave (overrides or API
kwargs); everything else is what ``m`` trained with. Whether a given change is allowed on
resume (more epochs yes, another dataset no) is the orchestrator's check, not decided here.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from knowit.config.compose import SELECTABLE_GROUPS, kwargs_groups
from knowit.errors import KnowItError

EVERYTHING = "*"  # an experiment file sets keys all over the config: take the composed one whole
# Where the run is going now, not what it trained with.
ALWAYS_CURRENT = ("exp_dir", "overwrite")


def override_keys(overrides: Iterable[str]) -> list[str]:
    """Dotted keys that overrides set or delete (a group choice such as ``data=x`` names its group)."""
    keys = []
    for item in overrides:
        key = item.split("=", 1)[0].lstrip("+~")
        if key.startswith("hydra") or not key:
            continue
        keys.append(EVERYTHING if key in ("experiment", "hparams_search") else key)
    return keys


def kwargs_keys(kwargs: Mapping[str, Any] | None) -> list[str]:
    """Dotted leaf keys that API kwargs set (``arch_hps`` flattened as the config holds it)."""
    keys: list[str] = []

    def walk(prefix: str, node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            path = f"{prefix}.{key}"
            if isinstance(value, Mapping) and value:
                walk(path, value)
            else:
                keys.append(path)

    for group, node in zip(("data", "arch", "trainer"), kwargs_groups(kwargs)):
        walk(group, node)
    return keys


def from_resumed_run(raw: dict[str, Any], given: Iterable[str]) -> dict[str, Any]:
    """``raw`` (a composed config) when it resumes nothing; else the resumed run's saved config
    with the ``given`` keys taken from ``raw``."""
    from knowit.config.imported_data import exp_dir_of
    from knowit.rundir import RunDir, resume_paths

    resume = (raw.get("trainer") or {}).get("resume")
    given = set(given)
    if not resume or EVERYTHING in given:
        return raw
    try:
        run_path, _ = resume_paths(str(resume), exp_dir_of((), raw.get("exp_dir")))
        out = copy.deepcopy(RunDir(Path(run_path)).read_config())
    except KnowItError:
        return raw  # nothing to start from: the orchestrator's resume checks say why, in their order
    if not isinstance(out, dict):
        return raw
    for key in sorted(given | {"trainer.resume", *ALWAYS_CURRENT}):
        _copy_key(raw, out, key)
    return out


def _copy_key(source: Mapping[str, Any], target: dict[str, Any], key: str) -> None:
    """Set ``key`` in ``target`` to its value in ``source``; a key ``source`` lacks (deleted with
    ``~``) goes from ``target`` too. A group name (``data``) copies the whole group."""
    *parents, leaf = key.split(".")
    for part in parents:
        source = source.get(part) if isinstance(source, Mapping) else None
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = target[part] = {}
        target = nxt
    if isinstance(source, Mapping) and leaf in source:
        target[leaf] = copy.deepcopy(source[leaf])
    elif leaf not in SELECTABLE_GROUPS:
        target.pop(leaf, None)
