"""Resolve an architecture name to its plugin module (see ``knowit.default_archs``).

A bare name (case-insensitive, ``LSTM`` == ``lstm``) names a module shipped in
``knowit.default_archs``; a dotted path (``mypkg.my_arch``) imports the user's own module; a path
to a ``.py`` file (``archs/my_arch.py``, relative to the working directory) loads that file.
The last two run the user's code: only name code you trust. Code is only ever loaded from a
name the user's own config or argument gives (never from a run folder's files).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from knowit.errors import KnowItConfigError

_REQUIRED = ("ArchArgs", "Model")
# How an input sample is laid out (plots and interpretation read it): series (T, C), field
# (T, rows, C) or (T, C, rows), frames (T, C, H, W) or (T, H, W, C); ``any``: the data's rank decides.
LAYOUTS = ("series", "field", "frames", "any")  # what INPUT_LAYOUT may declare
# what an optional ``input_layout(args)`` may refine a declared layout to (its axis order)
VARIANTS = {"series": ("series",), "field": ("field", "field_channels_first"), "frames": ("frames", "frames_channels_last"), "any": ("any",)}
_LAYOUT_BY_RANK = {2: "series", 3: "field", 4: "frames"}


def available_archs() -> list[str]:
    """Names of the shipped architectures (found without importing them)."""
    import knowit.default_archs as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def is_file(name: str) -> bool:
    """True when an arch name is a path to a Python file (``my_arch.py``, ``archs/my_arch.py``)."""
    return name.endswith(".py")


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def module_path(name: str) -> str:
    """The import path behind an arch name (the absolute path of a file arch); raises
    KnowItConfigError naming ``arch.name``."""
    if is_file(name):
        return str(Path(name).expanduser().resolve())
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


def is_shipped(name: str) -> bool:
    """True for a bare name of an architecture shipped with knowit (importing it runs only knowit's code)."""
    return "." not in name and "/" not in name and name.lower().replace("-", "_") in {a.lower() for a in available_archs()}


def is_imported(name: str) -> bool:
    """True when the module behind a user's arch name is already imported in this process:
    loading it again runs no new code."""
    import sys

    return "." in name and "/" not in name and not name.endswith(".py") and name in sys.modules


def load(name: str) -> ModuleType:
    """Import the module an arch name names (nothing checked; see ``resolve``)."""
    path = module_path(name)
    if is_file(name):
        return load_file(Path(path))
    try:
        return importlib.import_module(path)
    except ImportError as err:
        raise KnowItConfigError(f"arch.name: cannot import architecture module {path!r}: {err}") from None


def resolve(name: str) -> ModuleType:
    """Import the arch module and check it has the plugin contract's parts
    (``knowit archs --check`` runs the full checks)."""
    path = module_path(name)
    module = load(name)
    missing = [attr for attr in _REQUIRED if not hasattr(module, attr)]
    if missing:
        raise KnowItConfigError(
            f"arch.name: module {path!r} is not a knowit architecture: it lacks {', '.join(missing)}"
        )
    check_declarations(module, path)
    return module


def check_declarations(module: ModuleType, path: str) -> None:
    """``STATEFUL_ARG`` must name a bool field of ``ArchArgs``; ``INPUT_LAYOUT`` one of ``LAYOUTS``."""
    import dataclasses
    import typing

    for key in _stateful_args(module):
        tp: Any = module.ArchArgs
        for part in str(key).split("."):
            hints = typing.get_type_hints(tp) if dataclasses.is_dataclass(tp) else {}
            tp = hints.get(part)
        if tp is not bool:
            raise KnowItConfigError(f"arch.name: module {path!r} declares STATEFUL_ARG={key!r}, which is not a bool field of its ArchArgs")
    layout = getattr(module, "INPUT_LAYOUT", "any")
    if layout not in LAYOUTS:
        raise KnowItConfigError(f"arch.name: module {path!r} declares INPUT_LAYOUT={layout!r}; choose one of: {', '.join(LAYOUTS)}")


def _stateful_args(module: ModuleType) -> tuple[str, ...]:
    """``STATEFUL_ARG``: one dotted ArchArgs field, or several (any of them on makes it stateful)."""
    declared = getattr(module, "STATEFUL_ARG", None)
    if declared is None:
        return ()
    return (declared,) if isinstance(declared, str) else tuple(declared)


def stateful_key(module: ModuleType, args: Any) -> str | None:
    """``arch.<STATEFUL_ARG>`` of the first such argument that is on (the model carries states
    between batches); None when the model is not stateful with these args."""
    for key in _stateful_args(module):
        value = args
        for part in key.split("."):
            value = getattr(value, part)
        if value:
            return f"arch.{key}"
    return None


def input_layout(module: ModuleType, args: Any) -> str:
    """The arch's input layout for these args: ``INPUT_LAYOUT`` (``any`` when it declares none),
    refined by its optional ``input_layout(args)`` to an axis order (``field_channels_first``)."""
    declared = getattr(module, "INPUT_LAYOUT", "any")
    refine = getattr(module, "input_layout", None)
    layout = refine(args) if callable(refine) else declared
    allowed = VARIANTS.get(declared, ())
    if layout not in allowed:
        raise KnowItConfigError(f"arch.name: {module.__name__}.input_layout gave {layout!r}; with INPUT_LAYOUT={declared!r} choose one of: {', '.join(allowed)}")
    return layout


def layout_for_rank(layout: str, rank: int) -> str:
    """A concrete layout for samples of ``rank`` axes: ``any`` follows the rank (``flat`` beyond)."""
    return _LAYOUT_BY_RANK.get(rank, "flat") if layout == "any" else layout


def load_file(path: Path) -> ModuleType:
    """Execute an architecture file once per content: the module is cached under a name made of
    its hash, so the same file is not run twice and an edited file is loaded afresh."""
    if not path.is_file():
        raise KnowItConfigError(f"arch.name: no architecture file at {path}")
    name = f"knowit_user_arch_{file_sha256(path)[:16]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise KnowItConfigError(f"arch.name: {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - whatever the user's file raises, report it as one line
        del sys.modules[name]
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise KnowItConfigError(f"arch.name: {path} fails to load: {type(err).__name__}: {first}") from None
    return module


def description(module: ModuleType) -> str:
    """The first line of the module's docstring (what ``knowit archs`` prints)."""
    doc = (module.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else "(no description)"


def supported_tasks(module: ModuleType) -> tuple[str, ...]:
    return tuple(getattr(module, "TASKS", ("regression", "classification")))
