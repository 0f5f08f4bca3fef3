"""Imported datasets as ``data`` config choices: ``knowit import`` writes
``<exp_dir>/conf/data/<name>.yaml`` and every door adds ``<exp_dir>/conf`` to Hydra's search
path, so ``data=<name>`` selects it (CLI, sweeps and the API alike) with the dataset's own task
and targets as defaults. The file is the user's to edit; a re-import with overwrite rewrites it.
"""
from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

DEFAULT_EXP_DIR = "knowit_exp"
CONF_DIR = "conf"


def exp_dir_of(overrides: Iterable[str], exp_dir: str | os.PathLike | None = None) -> Path:
    """The experiment directory a run will use: ``exp_dir`` given, else an ``exp_dir=`` override,
    else ``$KNOWIT_EXP_DIR``, else ``./knowit_exp`` (the same order as ``conf/config.yaml``)."""
    if exp_dir is None:
        given = [o.split("=", 1)[1] for o in overrides if "=" in o and o.split("=", 1)[0].lstrip("+") == "exp_dir"]
        exp_dir = given[-1] if given else os.environ.get("KNOWIT_EXP_DIR") or DEFAULT_EXP_DIR
    return Path(exp_dir).expanduser().resolve()


def data_config_path(exp_dir: str | os.PathLike, name: str) -> Path:
    return Path(exp_dir) / CONF_DIR / "data" / f"{name}.yaml"


def imported_choices(exp_dir: str | os.PathLike | None) -> list[str]:
    folder = Path(exp_dir) / CONF_DIR / "data" if exp_dir is not None else None
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def searchpath_override(exp_dir: Path) -> str | None:
    """``hydra.searchpath=['file://<exp_dir>/conf']`` when that folder exists (a quoted path: any
    character a directory name may hold survives Hydra's override parser)."""
    folder = exp_dir / CONF_DIR
    if not folder.is_dir():
        return None
    quoted = str(folder).replace("\\", "\\\\").replace("'", "\\'")
    return f"hydra.searchpath=['file://{quoted}']"


def _series_task(meta: Mapping[str, Any]) -> str:
    targets = list(meta.get("targets") or [])
    labels = set(meta.get("categories") or {})
    return "classification" if targets and all(t in labels for t in targets) else "regression"


def default_out_chunk(meta: Mapping[str, Any]) -> list[int] | None:
    """``[1, 1]`` for a series with numeric targets: a first run forecasts one step ahead from
    every component's past, the targets' own included (the schema's nowcast ``[0, 0]`` estimated
    daily sales from a promo flag alone and lost to persistence); ``None`` (the schema's default)
    for labels, array datasets and a series without targets."""
    if meta.get("kind") == "series" and meta.get("targets") and _series_task(meta) == "regression":
        return [1, 1]
    return None


def data_config(name: str, meta: Mapping[str, Any], in_chunk: list[int] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The ``data`` config of the stored dataset ``name``, and comment lines describing it;
    ``in_chunk``: an input window that replaces the default one, which this series is too short for."""
    if meta.get("kind") == "series":
        targets = list(meta.get("targets") or [])
        task = _series_task(meta)
        config: dict[str, Any] = {"name": name, "task": task, "in_components": None, "out_components": targets or None}
        notes = [f"components: {', '.join(meta.get('components') or [])}",
                 "in_components null: every component that is not an output, plus the outputs' own past when out_chunk starts after in_chunk (a forecast)"]
        out_chunk = default_out_chunk(meta)
        if out_chunk:
            config["out_chunk"] = out_chunk
            notes.append("out_chunk [1, 1]: the targets one step after each input window; [1, k] forecasts k steps ahead; "
                         "[0, 0] estimates them at the window's last row from the other components")
        if not targets:
            notes.append("no targets were declared: set out_components (or import with --targets)")
        if in_chunk is not None:
            config["in_chunk"] = list(in_chunk)
            notes.append(f"in_chunk {list(in_chunk)}: the default [-31, 0] leaves a chronological valid or test set of this series empty")
    else:
        task = meta.get("task", "regression")
        config = {"name": name, "task": task}
        notes = [f"{meta.get('n_samples')} samples of shape {meta.get('sample_shape')}, targets of shape {meta.get('target_shape')}"]
    if task == "classification":
        config["scaling_tag"] = "in_only"  # class labels are never scaled
    return config, notes


def write_data_config(exp_dir: str | os.PathLike, name: str, meta: Mapping[str, Any], in_chunk: list[int] | None = None) -> Path:
    """Write ``<exp_dir>/conf/data/<name>.yaml`` for the stored dataset ``name`` (atomically)."""
    import yaml

    from knowit.atomic_io import write_text

    config, notes = data_config(name, meta, in_chunk)
    header = [f"# Dataset {name!r}, written by `knowit import`: select it with data={name}.",
              "# Any key of the data group may be added or changed here (see docs/config_reference.md)."]
    header += [f"# {line}" for line in notes]
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    return write_text(data_config_path(exp_dir, name), "\n".join(header) + "\n" + body)


def next_command(name: str, meta: Mapping[str, Any], exp_dir_arg: str | None = None) -> str:
    """The command that trains on a just-imported dataset."""
    parts = ["python", "-m", "knowit", "train", f"data={name}"]
    if exp_dir_arg is not None:
        parts.append(f"exp_dir={exp_dir_arg}")
    if meta.get("kind") == "series" and not meta.get("targets"):
        parts.append(f"data.out_components=[{(meta.get('components') or ['<column>'])[-1]}]")
    return shlex.join(parts)


def forecast_command(name: str, meta: Mapping[str, Any], steps: int, exp_dir_arg: str | None = None) -> str | None:
    """The command that forecasts a just-imported series' targets 1 to ``steps`` steps ahead from
    every column's past (``next_command`` trains the data config's default: one step ahead).
    ``None`` where there is no regression target."""
    if default_out_chunk(meta) is None:
        return None
    return f"{next_command(name, meta, exp_dir_arg)} {shlex.quote(f'data.out_chunk=[1,{steps}]')}"
