"""Resolve an architecture name to its plugin module (see ``knowit.default_archs``).

A bare name (case-insensitive, ``LSTM`` == ``lstm``) names a module shipped in
``knowit.default_archs``; a dotted path (``mypkg.my_arch``) imports the user's own module, which
runs that module's code: only name modules you trust.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from knowit.errors import KnowItConfigError

_REQUIRED = ("ArchArgs", "Model")


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


def is_shipped(name: str) -> bool:
    """True for a bare name of an architecture shipped with knowit (importing it runs only knowit's code)."""
    return "." not in name and "/" not in name and name.lower().replace("-", "_") in {a.lower() for a in available_archs()}


def is_imported(name: str) -> bool:
    """True when the module behind a user's arch name is already imported in this process:
    loading it again runs no new code."""
    import sys

    return "." in name and "/" not in name and not name.endswith(".py") and name in sys.modules


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
    return module


def supported_tasks(module: ModuleType) -> tuple[str, ...]:
    return tuple(getattr(module, "TASKS", ("regression", "classification")))
