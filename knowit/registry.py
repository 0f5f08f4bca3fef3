"""Resolve an architecture name to its plugin module (see ``knowit.default_archs``).

A bare name (case-insensitive, ``LSTM`` == ``lstm``) names a module shipped in
``knowit.default_archs``; a dotted path (``mypkg.my_arch``) imports the user's own module, which
runs that module's code: only name modules you trust.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from knowit.errors import KnowItConfigError

_REQUIRED = ("ArchArgs", "Model")
# How an input sample is laid out (plots and interpretation read it): series (T, C), field
# (T, rows, C) or (T, C, rows), frames (T, C, H, W) or (T, H, W, C); ``any``: the data's rank decides.
LAYOUTS = ("series", "field", "field_channels_first", "frames", "frames_channels_last", "any")
_LAYOUT_BY_RANK = {2: "series", 3: "field", 4: "frames"}


def available_archs() -> list[str]:
    """Names of the shipped architectures (found without importing them)."""
    import knowit.default_archs as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def module_path(name: str) -> str:
    """The import path behind an arch name; raises KnowItConfigError naming ``arch.name``."""
    if "." in name:
        return name
    shipped = {a.lower(): a for a in available_archs()}
    key = name.lower().replace("-", "_")
    if key not in shipped:
        raise KnowItConfigError(
            f"arch.name: unknown architecture {name!r}; available: {', '.join(sorted(shipped))}, "
            "or a dotted path to your own module"
        )
    return f"knowit.default_archs.{shipped[key]}"


def resolve(name: str) -> ModuleType:
    """Import the arch module and check it honours the plugin contract."""
    path = module_path(name)
    try:
        module = importlib.import_module(path)
    except ImportError as err:
        raise KnowItConfigError(f"arch.name: cannot import architecture module {path!r}: {err}") from None
    missing = [attr for attr in _REQUIRED if not hasattr(module, attr)]
    if missing:
        raise KnowItConfigError(
            f"arch.name: module {path!r} is not a knowit architecture: it lacks {', '.join(missing)}"
        )
    _check_declarations(module, path)
    return module


def _check_declarations(module: ModuleType, path: str) -> None:
    """``STATEFUL_ARG`` must name a bool field of ``ArchArgs``; ``INPUT_LAYOUT`` one of ``LAYOUTS``
    (or a function of the args)."""
    import dataclasses
    import typing

    key = getattr(module, "STATEFUL_ARG", None)
    if key is not None:
        tp: Any = module.ArchArgs
        for part in str(key).split("."):
            hints = typing.get_type_hints(tp) if dataclasses.is_dataclass(tp) else {}
            tp = hints.get(part)
        if tp is not bool:
            raise KnowItConfigError(f"arch.name: module {path!r} declares STATEFUL_ARG={key!r}, which is not a bool field of its ArchArgs")
    layout = getattr(module, "INPUT_LAYOUT", "any")
    if not callable(layout) and layout not in LAYOUTS:
        raise KnowItConfigError(f"arch.name: module {path!r} declares INPUT_LAYOUT={layout!r}; choose one of: {', '.join(LAYOUTS)}")


def stateful_key(module: ModuleType, args: Any) -> str | None:
    """``arch.<STATEFUL_ARG>`` when that argument is on (the model carries states between batches)."""
    key = getattr(module, "STATEFUL_ARG", None)
    if key is None:
        return None
    value = args
    for part in key.split("."):
        value = getattr(value, part)
    return f"arch.{key}" if value else None


def input_layout(module: ModuleType, args: Any) -> str:
    """The arch's declared input layout for these args (``any`` when it declares none)."""
    layout = getattr(module, "INPUT_LAYOUT", "any")
    layout = layout(args) if callable(layout) else layout
    if layout not in LAYOUTS:
        raise KnowItConfigError(f"arch.name: {module.__name__}.INPUT_LAYOUT gave {layout!r}; choose one of: {', '.join(LAYOUTS)}")
    return layout


def layout_for_rank(layout: str, rank: int) -> str:
    """A concrete layout for samples of ``rank`` axes: ``any`` follows the rank (``flat`` beyond)."""
    return _LAYOUT_BY_RANK.get(rank, "flat") if layout == "any" else layout


def supported_tasks(module: ModuleType) -> tuple[str, ...]:
    return tuple(getattr(module, "TASKS", ("regression", "classification")))
