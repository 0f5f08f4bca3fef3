"""Sweep directory rules: no silent reuse of a sweep name; failed jobs leave a readable record."""
from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import TypeVar

from knowit.atomic_io import read_json, write_json
from knowit.config.run_config import RunConfig
from knowit.errors import KnowItRunError

T = TypeVar("T")


def sweep_dir(cfg: RunConfig) -> Path:
    return cfg.exp_dir / "sweeps" / str(cfg.root.model_name)


def job_config(cfg: RunConfig) -> RunConfig:
    """A sweep job's config: it never replaces a folder (the sweep's ``overwrite`` cleared only
    the sweep folder it checked; a job folder holding another run stays that run's)."""
    import dataclasses

    return dataclasses.replace(cfg, root=dataclasses.replace(cfg.root, overwrite=False))


def hydra_sweep_dir(cfg: RunConfig, hydra_overrides: list[str]) -> Path:
    """The folder a CLI multirun writes to: ``hydra.sweep.dir`` when given, else the default."""
    for item in hydra_overrides:
        key, _, value = item.partition("=")
        if key.lstrip("+") == "hydra.sweep.dir" and value and "${" not in value:
            return Path(value.strip("'\"")).expanduser().resolve()
    return sweep_dir(cfg)


def check_direction(direction: str | None, metric: str | None) -> None:
    """A search sweeper's direction must be the way ``optimized_metric`` improves."""
    from knowit.errors import KnowItConfigError
    from knowit.sweeps.summary import metric_direction

    if direction is not None and metric and direction != metric_direction(metric):
        raise KnowItConfigError(f"hydra.sweeper.direction: {direction!r} disagrees with optimized_metric {metric!r}, "
                                f"which is to {metric_direction(metric)}; set hydra.sweeper.direction={metric_direction(metric)}")


def record_failed_job(run_path: Path | None, message: str) -> None:
    """Mark a sweep job failed, keeping a failure summary the run already wrote (it says more)."""
    if run_path is None:
        return
    summary = Path(run_path) / "summary.json"
    try:
        if summary.is_file() and read_json(summary).get("status") == "failed":
            return
    except ValueError:
        pass
    Path(run_path).mkdir(parents=True, exist_ok=True)
    write_json(summary, {"status": "failed", "error": message})


def run_job(path: Path, *, job: int, overrides: list[str], optimized_metric: str | None,
            train: Callable[[], T], reraise: bool = False, total: int | None = None,
            swept: Collection[str] | None = None) -> tuple[T | None, str | None]:
    """One sweep job, for every door: ``train()``'s value, or the failure's one-line message after
    recording it in the job's ``summary.json`` (the sweep goes on). The job's overrides are
    written beside its run either way, for the sweep summary, and one line says how it ended
    (job ``job`` of ``total``, with the values of the ``swept`` keys)."""
    from knowit.rundir import ClaimRefused
    from knowit.sweeps.plan import record_unclaimed
    from knowit.sweeps.summary import job_line, write_job_record

    owned = True
    try:
        return train(), None
    except Exception as err:  # noqa: BLE001 - recorded in the job's summary.json and the sweep summary
        from knowit.errors import KnowItInterrupted

        if reraise or isinstance(err, KnowItInterrupted):  # Ctrl-C stops the whole sweep
            raise
        message = failure_message(err)
        if isinstance(err, ClaimRefused):  # the folder is another run's: record beside the sweep, touch nothing there
            owned = False
            record_unclaimed(path.parent, job, message)
        else:
            record_failed_job(path, message)
        return None, message
    finally:
        if owned and path.is_dir():
            write_job_record(path, job=job, overrides=overrides, optimized_metric=optimized_metric)
            print(job_line(path, total, swept), flush=True)


def failure_message(err: BaseException) -> str:
    """One line for a failed job: knowit's own errors as they are, others with their type."""
    from knowit.errors import KnowItError

    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return first if isinstance(err, KnowItError) else f"{type(err).__name__}: {first}"
