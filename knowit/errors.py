"""knowit's own exceptions: every error raised on purpose is one line naming the key at fault."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class KnowItError(Exception): """Base class of every error knowit raises on purpose."""
class KnowItConfigError(KnowItError, ValueError): """A config key is missing, misspelled, of the wrong type or out of range."""
class KnowItDataError(KnowItError, ValueError): """A dataset, file or window request cannot be used."""
class KnowItRunError(KnowItError, RuntimeError): """A run cannot start, continue or be loaded."""
class KnowItInterrupted(KnowItRunError): """Ctrl-C stopped a run; it is recorded as ``interrupted`` and can be resumed (CLI exit code 130)."""


@contextmanager
def os_errors_as_run_errors(key: str = "exp_dir") -> Iterator[None]:
    """Turn a failing filesystem call (full disk, a file where a folder should be, no permission)
    into one KnowItRunError line naming ``key`` and the path, instead of a traceback."""
    try:
        yield
    except OSError as err:
        where = f" {err.filename}" if err.filename else ""
        raise KnowItRunError(f"{key}: cannot write{where}: {err.strerror or err}") from err
