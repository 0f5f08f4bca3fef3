"""What a run was made from: the content hash of its data and the versions of the software.

A run records both in ``summary.json``. Rebuilding a run's data later (``evaluate``,
``predict``, ``interpret``) compares the stored dataset's hash with the recorded one: a dataset
re-imported under the same name with other contents would otherwise silently change what an
old run reports.
"""
from __future__ import annotations

import logging
import platform
import warnings
from importlib import metadata
from typing import Any

log = logging.getLogger("knowit")


def versions() -> dict[str, str]:
    """knowit, torch, Lightning and Python versions of this process."""
    out = {}
    for name, dist in (("knowit", "knowit"), ("torch", "torch"), ("lightning", "pytorch-lightning")):
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    out["python"] = platform.python_version()
    return out


def data_change(summary: dict[str, Any] | None, current_hash: str) -> str | None:
    """A one-line description of how the run's data changed, or None when it did not (or the
    run predates data hashes)."""
    recorded = (summary or {}).get("data_hash")
    if not recorded or not current_hash or recorded == current_hash:
        return None
    dataset = (summary or {}).get("dataset", "?")
    return (
        f"dataset {dataset!r} has changed since this run trained on it (content hash {recorded[:12]} then, "
        f"{current_hash[:12]} now): its results describe other data than the run saw"
    )


def warn_if_data_changed(summary: dict[str, Any] | None, current_hash: str) -> None:
    message = data_change(summary, current_hash)
    if message:
        log.warning("%s", message)
        warnings.warn(message, stacklevel=3)
