"""The run directory contract (see DESIGN.md): paths, consent to overwrite, the run lock.

```
<exp_dir>/models/<model_name>/
  config.yaml  checkpoints/  metrics.csv  summary.json  scalers.json  visualizations/  predictions/
```
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowit.atomic_io import read_json, write_json, write_text
from knowit.errors import KnowItRunError

LOCK = ".lock"
# How each door consents to replacing an existing run or sweep (errors name the door's own words).
CLI_REPLACE = "overwrite=true"
API_REPLACE = "safe_mode=False (or overwrite=True)"


def auto_model_name(arch: str, dataset: str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    short = Path(arch).stem if arch.endswith(".py") else arch.split(".")[-1]  # a file arch: its file name
    return f"{short.lower()}_{dataset}_{stamp}"


def resume_paths(resume: str, exp_dir: Path) -> tuple[Path, Path]:
    """``(run directory, checkpoint)`` that a ``trainer.resume`` value names: a run directory (its
    ``checkpoints/last.ckpt``), a model name under ``<exp_dir>/models`` or a checkpoint file."""
    from knowit.errors import KnowItConfigError

    given = Path(resume).expanduser()
    if not given.is_absolute() and not given.exists():
        given = Path(exp_dir) / "models" / given  # a bare model name
    ckpt = given / "checkpoints" / "last.ckpt" if given.is_dir() else given
    if not ckpt.is_file():
        raise KnowItConfigError(f"trainer.resume: no checkpoint to resume from at {ckpt}")
    run_path = ckpt.resolve().parent.parent
    if not (run_path / "config.yaml").is_file():
        raise KnowItConfigError(f"trainer.resume: {ckpt} is not inside a knowit run directory (no config.yaml beside checkpoints/)")
    return run_path, ckpt


@dataclass
class RunDir:
    path: Path
    _lock_fd: int | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def for_model(cls, exp_dir: Path, model_name: str) -> RunDir:
        return cls(Path(exp_dir) / "models" / model_name)

    # -- layout ---------------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def scalers(self) -> Path:
        return self.path / "scalers.json"

    @property
    def visualizations(self) -> Path:
        return self.path / "visualizations"

    @property
    def predictions(self) -> Path:
        return self.path / "predictions"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    def inside(self, relative: Any, source: str) -> Path:
        """A path named by one of the run's own files, resolved and confined to the run folder:
        a shared run folder must not point knowit at another run's files (or anything else)."""
        if not isinstance(relative, str) or not relative or "\0" in relative:
            raise KnowItRunError(f"run_dir: {source} names {relative!r}, which is not a path inside {self.path}")
        root = self.path.resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            raise KnowItRunError(f"run_dir: {source} names {relative!r}, which lies outside the run folder {self.path}; refusing to read it")
        return path

    def best_checkpoint(self) -> Path | None:
        summary = self.read_summary()
        if summary and summary.get("best_checkpoint"):
            path = self.inside(summary["best_checkpoint"], f"{self.summary.name} (best_checkpoint)")
            if path.is_file():
                return path
        found = sorted(self.checkpoints.glob("best*.ckpt"))
        return self.inside(str(found[-1].relative_to(self.path)), f"checkpoints/{found[-1].name}") if found else None

    # -- claiming -------------------------------------------------------------------------------
    def refuse_existing(self, *, overwrite: bool, hint: str = CLI_REPLACE) -> None:
        """An existing run is never replaced without consent; ``hint`` is the door's own word for it."""
        if not overwrite and self.path.exists() and any(self.path.iterdir()):
            # ClaimRefused, like claim(): a sweep records it beside the sweep, never in this folder
            raise ClaimRefused(f"model_name: a run already exists at {self.path}; choose another model_name or pass {hint}")

    def claim(self, *, overwrite: bool, resume: bool = False, hint: str = CLI_REPLACE) -> None:
        """Take the run directory for a new run: refuse an existing run unless allowed, then lock it.

        The existence check is repeated once the lock is held: a run that finished between the
        first look and the lock is never replaced without consent.
        """
        if self._exists() and not (overwrite or resume):
            raise ClaimRefused(f"model_name: a run already exists at {self.path}; choose another model_name or pass {hint}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.mkdir(exist_ok=True)
        except OSError as err:
            raise KnowItRunError(f"exp_dir: cannot create {self.path}: {err.strerror or err}") from None
        self._lock()
        exists = self._exists()
        if exists and not (overwrite or resume):
            self.release()
            raise ClaimRefused(f"model_name: a run already exists at {self.path}; choose another model_name or pass overwrite=true")
        if exists and overwrite and not resume:
            for child in self.path.iterdir():
                if child.name != LOCK:
                    shutil.rmtree(child) if child.is_dir() else child.unlink()

    def _exists(self) -> bool:
        return self.path.is_dir() and any(p.name != LOCK for p in self.path.iterdir())

    def _lock(self) -> None:
        """An exclusive ``flock`` on ``.lock``, held until ``release`` or the process ends (a crash,
        even SIGKILL, frees it: no pid guessing). The file records its owner (pid, host, start)
        for the message another process gets."""
        import fcntl

        lock = self.path / LOCK
        for _ in range(20):
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise KnowItRunError(f"exp_dir: cannot write in {self.path}: {err.strerror or err}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise ClaimRefused(self._in_use_message(lock, live=True)) from None
            try:
                same_file = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same_file = False
            if not same_file:  # the previous holder removed it between our open and our lock
                os.close(fd)
                continue
            previous = _read_owner(fd)
            if previous and previous.get("host") not in (None, _HOST) and previous.get("pid") is not None:
                os.close(fd)  # its process may still run there: only a person can tell
                raise ClaimRefused(self._in_use_message(lock, live=False))
            record = json.dumps({"pid": os.getpid(), "host": _HOST, "started": _dt.datetime.now().isoformat(timespec="seconds")})
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode(), 0)
            self._lock_fd = fd
            return
        raise KnowItRunError(f"model_name: could not lock {self.path}")

    def _in_use_message(self, lock: Path, *, live: bool) -> str:
        owner = _read_owner(lock) or {}
        who = f"process {owner.get('pid', '?')} on host {owner.get('host', '?')}, started {owner.get('started', '?')}"
        if live:
            return f"model_name: run {self.path.name!r} is in use by {who}; wait for it to finish or stop that process"
        return (f"model_name: run {self.path.name!r} is locked by {who}, which knowit cannot check from {_HOST}; "
                f"if no run is active there, delete {lock} and start again")

    def release(self) -> None:
        fd = getattr(self, "_lock_fd", None)
        if fd is None:
            return
        self._lock_fd = None
        (self.path / LOCK).unlink(missing_ok=True)  # before unlocking: a waiting process then re-checks the inode
        os.close(fd)

    # -- artefacts ------------------------------------------------------------------------------
    def write_config(self, cfg: dict[str, Any]) -> None:
        import yaml

        write_text(self.config, yaml.safe_dump(cfg, sort_keys=False))

    def recorded_arch(self) -> str | None:
        """The ``arch.name`` config.yaml records, read before the config is validated: validating
        imports the architecture, and a run folder alone must never choose code."""
        node = self.read_config().get("arch")
        name = node.get("name") if isinstance(node, dict) else None
        return name if isinstance(name, str) else None

    def read_config(self) -> dict[str, Any]:
        import yaml

        if not self.config.is_file():
            raise KnowItRunError(f"run_dir: {self.path} has no config.yaml; it is not a knowit run (or it is incomplete)")
        try:
            config = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            first = str(err).strip().splitlines()[0]
            raise KnowItRunError(f"run_dir: {self.config} is unreadable: {first}") from None
        if not isinstance(config, dict) or not config:
            what = "empty" if config in (None, {}) else f"a {type(config).__name__}"
            raise KnowItRunError(f"run_dir: {self.config} is {what}; expected a mapping with data, arch and trainer")
        data = config.get("data")
        if isinstance(data, dict) and data.get("nan_handling") == "split":
            del data["nan_handling"]  # a removed key that never acted: runs saved with it still load
        return config

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.summary, summary)

    def read_summary(self) -> dict[str, Any] | None:
        if not self.summary.is_file():
            return None
        return read_run_json(self.summary)


def read_run_json(path: Path) -> dict[str, Any]:
    """A JSON object from a run's files (summary.json, scalers.json); anything else is one clear error."""
    try:
        value = read_json(path)
    except (ValueError, OSError) as err:
        raise KnowItRunError(f"run_dir: {path} is unreadable: {err}") from None
    if not isinstance(value, dict):
        raise KnowItRunError(f"run_dir: {path} holds a {type(value).__name__}; expected a JSON object")
    return value


def clear_stale_lock(folder: Path) -> bool:
    """Remove ``folder/.lock`` when no live process holds it (a killed job's); True if removed."""
    import fcntl

    lock = Path(folder) / LOCK
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    owner = _read_owner(fd) or {}
    if owner.get("host") not in (None, _HOST):
        os.close(fd)  # another host's: only a person can tell whether it still runs
        return False
    lock.unlink(missing_ok=True)
    os.close(fd)
    return True


class ClaimRefused(KnowItRunError):
    """The run directory belongs to another run (existing, or locked by a live process)."""


_HOST = socket.gethostname()


def _read_owner(where: Path | int) -> dict[str, Any] | None:
    """The owner recorded in a lock file (a path, or an open descriptor)."""
    try:
        raw = os.pread(where, 4096, 0) if isinstance(where, int) else where.read_bytes()
        owner = json.loads(raw.decode() or "null")
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None
