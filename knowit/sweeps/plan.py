"""``sweep_plan.json``: what a sweep set out to run, written before its first job.

It is the sweep's claim on its folder (created exclusively: of two identical sweeps started at
once, one starts and the other is refused) and the record that makes an interrupted sweep
visible: ``sweep summarize`` counts the planned jobs, names the missing ones and keeps every
swept column; resuming a sweep runs only the missing jobs.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from knowit.atomic_io import read_json
from knowit.errors import KnowItRunError

PLAN = "sweep_plan.json"
# Files only a knowit sweep folder holds: overwrite=true replaces a folder only when it is one.
SWEEP_FILES = (PLAN, "sweep_summary.json", "sweep_summary.csv")


def is_sweep_folder(folder: Path) -> bool:
    """Empty, or recognisably a knowit sweep (its plan or summary, or numbered jobs only)."""
    entries = [p for p in folder.iterdir()]
    if not entries or any((folder / name).is_file() for name in SWEEP_FILES):
        return True
    return all(p.is_dir() and p.name.isdigit() and (p / "sweep_job.json").is_file() for p in entries)


def start_sweep(folder: Path, *, jobs: list[list[str]] | None, overwrite: bool, door: str = "cli", key: str = "model_name") -> None:
    """Claim ``folder`` for a new sweep and record its planned jobs (``None``: a search whose
    trials are chosen as it goes; ``door``: ``cli`` when ``jobs`` are whole override lists,
    ``api`` when they are ``KI.sweep``'s grid on top of its kwargs). An existing sweep is refused unless ``overwrite``; a folder
    that is not a knowit sweep (a models folder, say) is never replaced."""
    folder = Path(folder)
    consent = "overwrite=True" if door == "api" else "overwrite=true"  # the door's own word
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise KnowItRunError(f"{key}: sweep {folder} already exists; choose another model_name or pass {consent}")
        if not is_sweep_folder(folder):
            raise KnowItRunError(f"{key}: {folder} holds other things than a knowit sweep; refusing to replace it with {consent}")
        try:
            shutil.rmtree(folder)
        except OSError as err:
            raise KnowItRunError(f"{key}: cannot replace sweep {folder}: {err.strerror or err}") from None
    plan = {"jobs": jobs, "n_jobs": len(jobs) if jobs is not None else None, "door": door, "pid": os.getpid(),
            "host": socket.gethostname(), "started": _dt.datetime.now().isoformat(timespec="seconds")}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{PLAN}.", dir=folder)
        with os.fdopen(fd, "w") as fh:
            json.dump(plan, fh, indent=2)
        try:
            os.link(tmp, folder / PLAN)  # appears complete, and only once
        except FileExistsError:
            raise KnowItRunError(f"{key}: sweep {folder} was started by another process at the same moment; "
                                 "choose another model_name") from None
        finally:
            os.unlink(tmp)
    except OSError as err:
        raise KnowItRunError(f"{key}: cannot start sweep {folder}: {err.strerror or err}") from None


def read_plan(folder: Path) -> dict[str, Any] | None:
    path = Path(folder) / PLAN
    if not path.is_file():
        return None
    try:
        plan = read_json(path)
    except (ValueError, OSError) as err:
        raise KnowItRunError(f"sweep_dir: {path} is unreadable: {err}") from None
    return plan if isinstance(plan, dict) else None


def record_unclaimed(folder: Path, job: int, message: str) -> None:
    """A job that could not claim its folder (another run is there): its failure goes into the
    sweep's own files, never into the folder it does not own."""
    from knowit.atomic_io import write_json

    write_json(Path(folder) / "unclaimed_jobs" / f"{job}.json", {"job": job, "status": "failed", "error": message})


def unclaimed_jobs(folder: Path) -> dict[int, dict[str, Any]]:
    found = {}
    for path in sorted((Path(folder) / "unclaimed_jobs").glob("*.json")):
        try:
            record = read_json(path)
            found[int(record["job"])] = record
        except (ValueError, OSError, KeyError, TypeError):
            continue
    return found


def resume_hint(plan: dict[str, Any] | None, folder: Path) -> str:
    if (plan or {}).get("door") == "api":
        return "KnowIt.sweep(<same arguments>, resume=True)"
    return f"python -m knowit sweep resume {folder}"


def jobs_to_resume(folder: Path, jobs: list[list[str]] | None = None) -> list[tuple[int, list[str]]]:
    """``(number, overrides)`` of the planned jobs that never finished, their leftover folders
    (a killed job's config and 'running' summary) cleared. ``jobs``: the grid the caller asks
    for, which must be the plan's."""
    from knowit.errors import KnowItConfigError
    from knowit.rundir import LOCK, clear_stale_lock

    folder = Path(folder)
    plan = read_plan(folder)
    if plan is None:
        raise KnowItRunError(f"sweep_dir: {folder} has no {PLAN}; only a sweep that recorded its plan can be resumed")
    planned = plan.get("jobs")
    if not isinstance(planned, list):
        raise KnowItRunError(f"sweep_dir: {folder} is a search (its trials are chosen as it runs); it cannot be resumed job by job")
    if jobs is None and plan.get("door") == "api":
        raise KnowItRunError(f"sweep_dir: {folder} was started by KnowIt.sweep; resume it there: {resume_hint(plan, folder)}")
    if jobs is not None and [list(j) for j in jobs] != planned:
        raise KnowItConfigError(f"grid: differs from the plan of sweep {folder}; resume with the sweep's own grid")
    unclaimed = unclaimed_jobs(folder)
    todo = []
    for number, overrides in enumerate(planned):
        path = folder / str(number)
        if number in unclaimed or _status(path) in ("completed", "failed"):
            continue
        if path.exists():
            clear_stale_lock(path)
            if (path / LOCK).exists():
                raise KnowItRunError(f"sweep_dir: job {number} of {folder} is still running (its lock is held)")
            shutil.rmtree(path)
        todo.append((number, list(overrides)))
    return todo


def _status(job_dir: Path) -> str | None:
    try:
        return read_json(job_dir / "summary.json").get("status")
    except (OSError, ValueError, AttributeError):
        return None
