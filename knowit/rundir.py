"""The run directory contract (see DESIGN.md): paths, consent to overwrite, the run lock.

```
<exp_dir>/models/<model_name>/
  config.yaml  checkpoints/  metrics.csv  summary.json  scalers.json  visualizations/  predictions/
```
"""
from __future__ import annotations

import datetime as _dt
import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowit.atomic_io import read_json, write_json, write_text
from knowit.errors import KnowItRunError

LOCK = ".lock"


def auto_model_name(arch: str, dataset: str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    short = Path(arch).stem if arch.endswith(".py") else arch.split(".")[-1]  # a file arch: its file name
    return f"{short.lower()}_{dataset}_{stamp}"


@dataclass
class RunDir:
    path: Path

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

    def best_checkpoint(self) -> Path | None:
        summary = self.read_summary()
        if summary and summary.get("best_checkpoint"):
            path = self.path / summary["best_checkpoint"]
            if path.is_file():
                return path
        found = sorted(self.checkpoints.glob("best*.ckpt"))
        return found[-1] if found else None

    # -- claiming -------------------------------------------------------------------------------
    def claim(self, *, overwrite: bool, resume: bool = False) -> None:
        """Take the run directory for a new run: refuse an existing run unless allowed, then lock it.

        The lock is a file created with O_EXCL holding our pid; a lock whose process is gone
        (a crashed run) is taken over.
        """
        exists = self.path.exists() and any(self.path.iterdir())
        if exists and not (overwrite or resume):
            raise KnowItRunError(
                f"model_name: a run already exists at {self.path}; choose another model_name or pass overwrite=true"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.mkdir(exist_ok=True)
        except OSError as err:
            raise KnowItRunError(f"exp_dir: cannot create {self.path}: {err.strerror or err}") from None
        self._lock()
        if exists and overwrite and not resume:
            for child in self.path.iterdir():
                if child.name != LOCK:
                    shutil.rmtree(child) if child.is_dir() else child.unlink()

    def _lock(self) -> None:
        lock = self.path / LOCK
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(lock.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and _alive(pid):
                    raise KnowItRunError(f"model_name: run {self.path.name!r} is in use by process {pid}") from None
                lock.unlink(missing_ok=True)  # stale: its process is gone
                continue
            except OSError as err:
                raise KnowItRunError(f"exp_dir: cannot write in {self.path}: {err.strerror or err}") from None
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            return
        raise KnowItRunError(f"model_name: could not lock {self.path}")

    def release(self) -> None:
        (self.path / LOCK).unlink(missing_ok=True)

    # -- artefacts ------------------------------------------------------------------------------
    def write_config(self, cfg: dict[str, Any]) -> None:
        import yaml

        write_text(self.config, yaml.safe_dump(cfg, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        import yaml

        if not self.config.is_file():
            raise KnowItRunError(f"run_dir: {self.path} has no config.yaml; it is not a knowit run (or it is incomplete)")
        try:
            config = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            first = str(err).strip().splitlines()[0]
            raise KnowItRunError(f"run_dir: {self.config} is unreadable: {first}") from None
        data = config.get("data") if isinstance(config, dict) else None
        if isinstance(data, dict) and data.get("nan_handling") == "split":
            del data["nan_handling"]  # a removed key that never acted: runs saved with it still load
        return config

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.summary, summary)

    def read_summary(self) -> dict[str, Any] | None:
        if not self.summary.is_file():
            return None
        try:
            return read_json(self.summary)
        except ValueError as err:
            raise KnowItRunError(f"run_dir: {self.summary} is unreadable: {err}") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as err:
        return err.errno == errno.EPERM
    return True
