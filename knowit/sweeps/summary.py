"""The sweep summary: every job's swept values, status and metrics, sorted by the optimised metric.

Written at the end of every multirun (a Hydra callback), by ``KI.sweep`` and by
``python -m knowit sweep summarize <sweep dir>``::

    <sweep dir>/sweep_summary.csv    one row per job, best first, failed jobs last with their error
    <sweep dir>/sweep_summary.json   metric, direction, best job, every job
    <sweep dir>/sweep_<metric>.png   the metric against each swept hyperparameter, best marked
    <sweep dir>/best -> <job>        the best job's run directory (KnowIt.load(<sweep dir>/best))
"""
from __future__ import annotations

import math
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowit.atomic_io import read_json, write_atomic, write_json
from knowit.config.schema import as_logged
from knowit.errors import KnowItRunError
from knowit.sweeps.grid import parse_override

JOB_RECORD = "sweep_job.json"
LOWER_IS_BETTER = ("loss", "loss_scaled", "mae", "mse", "rmse", "mape", "error_rate")
STAGES = ("train", "valid", "test", "backtest")  # backtest_*: sweep.objective=backtest's mean over folds
# Overrides that name where a job runs, not what it trains: never "swept hyperparameters".
NOT_HYPERPARAMETERS = ("model_name", "exp_dir", "overwrite", "optimized_metric")


def metric_direction(metric: str) -> str:
    """``minimize`` for losses and errors, ``maximize`` for scores (accuracy, f1, r2, ...)."""
    base = metric.split("_", 1)[1] if metric.split("_", 1)[0] in STAGES else metric
    return "minimize" if base in LOWER_IS_BETTER else "maximize"


def logged_as(metric: str, logged: list[dict[str, Any]]) -> str:
    """``valid_loss`` asks for the loss: a run on scaled regression targets logs it as
    ``valid_loss_scaled`` (a job record may hold the name as the sweep's config wrote it)."""
    if not any(metric in m for m in logged) and any(as_logged(metric, True) in m for m in logged):
        return as_logged(metric, True)
    return metric


def write_job_record(job_dir: Path, *, job: int, overrides: list[str], optimized_metric: str | None) -> None:
    write_json(job_dir / JOB_RECORD, {"job": job, "overrides": overrides, "optimized_metric": optimized_metric})


@dataclass
class SweepSummary:
    sweep_dir: Path
    metric: str
    direction: str
    params: list[str]
    jobs: list[dict[str, Any]]  # sorted: best first, then the rest, failed jobs last
    best: dict[str, Any] | None = None
    files: list[Path] = field(default_factory=list)
    planned: int | None = None  # jobs the sweep set out to run (sweep_plan.json); None: not known
    missing: list[int] = field(default_factory=list)  # planned jobs that never finished
    resume_hint: str = ""  # how to run the missing jobs (the door the sweep was started from)

    @property
    def finished(self) -> int:
        return sum(j["status"] in ("completed", "failed") for j in self.jobs)

    @property
    def best_run_dir(self) -> Path | None:
        return Path(self.best["run_dir"]) if self.best else None

    def table(self):
        """The summary as a pandas DataFrame (the CSV's content)."""
        import pandas as pd

        return pd.DataFrame([_row(job, self.params, self.metric) for job in self.jobs])

    def format(self) -> str:
        return format_table(self)

    def __repr__(self) -> str:
        completed = sum(job.get("status") == "completed" for job in self.jobs)
        best = f"best job {self.best['job']} ({self.metric}={self.best['value']:.4g})" if self.best else "no best job"
        return (f"SweepSummary({len(self.jobs)} jobs, {completed} completed, sorted by {self.metric} ({self.direction}), "
                f"{best}, sweep_dir={str(self.sweep_dir)!r})")


def job_line(path: Path, total: int | None = None, swept: Collection[str] | None = None) -> str:
    """One line for a finished job, read back from what it recorded:
    ``sweep job 2/4  arch.width=64  completed  valid_loss 0.4123  8.1 s`` (or ``failed: <why>``);
    of its overrides only those of the ``swept`` keys (all when not known)."""
    job = _read_job(Path(path))
    parts = [f"sweep job {job['job'] + 1}" + (f"/{total}" if total else "")]
    keys = [parse_override(o) for o in job["overrides"] if not o.startswith("~")]
    swept = [f"{k}={v}" for k, v in keys if k not in NOT_HYPERPARAMETERS and (swept is None or k in swept)]
    if swept:
        parts.append(" ".join(swept))
    if job.get("error"):
        parts.append(f"{job['status']}: {job['error']}")
        return "  ".join(parts)
    parts.append(job["status"])
    metric = job.get("optimized_metric") and logged_as(job["optimized_metric"], [job["metrics"]])
    if metric and _finite(job["metrics"].get(metric)):
        parts.append(f"{metric} {job['metrics'][metric]:.4g}")
    if job.get("train_time_s") is not None:
        parts.append(f"{job['train_time_s']:.1f} s")
    return "  ".join(parts)


def job_dirs(sweep_dir: Path) -> list[Path]:
    if not sweep_dir.is_dir():
        raise KnowItRunError(f"sweep_dir: {sweep_dir} is not a directory")
    found = [p for p in sweep_dir.iterdir() if p.is_dir() and not p.is_symlink() and p.name.isdigit()]
    return sorted(found, key=lambda p: int(p.name))


def _read_job(path: Path) -> dict[str, Any]:
    job: dict[str, Any] = {"job": int(path.name), "run_dir": str(path), "overrides": [], "status": "incomplete", "metrics": {}}
    for name, reader in ((JOB_RECORD, _record), ("summary.json", _summary)):
        file = path / name
        if file.is_file():
            try:
                reader(job, read_json(file))
            except (ValueError, OSError) as err:
                job.update(status="unreadable", error=f"{file.name}: {err}")
    if job["status"] == "running":
        job["status"] = "incomplete"  # killed: it never recorded an end
    config = path / "config.yaml"
    if config.is_file():
        import yaml

        try:
            job["config"] = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            pass
    return job


def _record(job: dict[str, Any], record: dict[str, Any]) -> None:
    job["overrides"] = list(record.get("overrides") or [])
    job["optimized_metric"] = record.get("optimized_metric")


def _summary(job: dict[str, Any], summary: dict[str, Any]) -> None:
    job["status"] = summary.get("status", "incomplete")
    if summary.get("error"):
        job["error"] = summary["error"]
    metrics = {f"{k}": v for k, v in (summary.get("final") or {}).items() if k.startswith("train_")}
    metrics.update(summary.get("metrics") or {})
    job["metrics"] = metrics
    for key in ("epochs", "train_time_s", "n_parameters"):
        if summary.get(key) is not None:
            job[key] = summary[key]
    if summary.get("repeats"):
        job["repeats"] = summary["repeats"]
    if summary.get("backtest"):
        job["backtest_folds"] = summary["backtest"].get("folds")
    if summary.get("metrics_interval"):  # means over repeats or backtest folds: keep the spread for ranking ties
        job["std"] = summary.get("metrics_std") or {}
        job["interval"] = summary["metrics_interval"]


def _config_value(config: dict[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def swept_params(jobs: list[dict[str, Any]]) -> list[str]:
    """Keys set by job overrides whose values differ between jobs (in the order first seen)."""
    values: dict[str, set[str]] = {}
    for job in jobs:
        for item in job["overrides"]:
            key, value = parse_override(item)
            if key not in NOT_HYPERPARAMETERS and not key.startswith("hydra"):
                values.setdefault(key, set()).add(value)
    varying = [k for k, v in values.items() if len(v) > 1]
    return varying or [k for k in values if len(values[k]) == 1 and len(jobs) == 1]


def _param_value(job: dict[str, Any], key: str) -> Any:
    for item in job["overrides"]:
        k, value = parse_override(item)
        if k == key:
            return _typed(value)
    return _config_value(job.get("config") or {}, key)


def _typed(text: str) -> Any:
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float, str, bool)) or value is None else text


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def summarize_sweep(sweep_dir: str | os.PathLike, *, metric: str | None = None, plot: bool = True) -> SweepSummary:
    """Read every job of a sweep directory and write the summary files (CSV, JSON, plot, ``best``).

    With the sweep's plan, jobs that never finished are listed as ``missing`` (their swept values
    kept); a job that could not claim its folder is reported from the sweep's own record, never
    from the other run that folder holds; killed jobs' stale locks are removed."""
    from knowit.rundir import clear_stale_lock
    from knowit.sweeps.plan import read_plan, resume_hint, unclaimed_jobs

    sweep_dir = Path(sweep_dir).resolve()
    plan = read_plan(sweep_dir) if sweep_dir.is_dir() else None
    unclaimed = unclaimed_jobs(sweep_dir) if sweep_dir.is_dir() else {}
    found = {int(p.name): p for p in job_dirs(sweep_dir)}
    for path in found.values():
        clear_stale_lock(path)
    jobs = [_read_job(path) for number, path in sorted(found.items()) if number not in unclaimed]
    for number, record in unclaimed.items():
        jobs.append({"job": number, "run_dir": "", "overrides": _planned(plan, number), "status": "failed",
                     "error": record.get("error", "could not claim its folder"), "metrics": {}})
    planned = plan.get("n_jobs") if plan else None
    known = {j["job"] for j in jobs}
    for number in range(planned or 0):
        if number not in known:
            jobs.append({"job": number, "run_dir": str(sweep_dir / str(number)), "overrides": _planned(plan, number),
                         "status": "missing", "metrics": {}})
    for job in jobs:
        if not job["overrides"] and _planned(plan, job["job"]):
            job["overrides"] = _planned(plan, job["job"])
    jobs.sort(key=lambda j: j["job"])
    if not jobs:
        raise KnowItRunError(f"sweep_dir: {sweep_dir} holds no sweep jobs (numbered job directories)")
    metric = metric or next((j.get("optimized_metric") for j in jobs if j.get("optimized_metric")), None)
    metric = metric or next((j["config"].get("optimized_metric") for j in jobs if j.get("config")), None) or "valid_loss"
    direction = metric_direction(metric)
    completed = [j for j in jobs if j["status"] == "completed"]
    metric = logged_as(metric, [j["metrics"] for j in completed])
    if completed and not any(metric in j["metrics"] for j in completed):
        from knowit.errors import KnowItConfigError

        logged = sorted({k for j in completed for k in j["metrics"]})
        raise KnowItConfigError(f"metric: {metric!r} was not logged by any job of {sweep_dir}; choose one of: {', '.join(logged)}")
    params = swept_params(jobs)
    for job in jobs:
        job["params"] = {key: _param_value(job, key) for key in params}
        job["value"] = job["metrics"].get(metric)
        if job["status"] == "completed" and not _finite(job["value"]):
            job["status"] = "failed"
            job.setdefault("error", f"{metric} is missing or not finite")

    ranked = [j for j in jobs if j["status"] == "completed"]
    ranked.sort(key=lambda j: j["value"], reverse=direction == "maximize")
    _mark_ties(ranked, metric)
    others = [j for j in jobs if j["status"] != "completed"]
    missing = sorted(j["job"] for j in jobs if j["status"] in ("missing", "incomplete"))
    summary = SweepSummary(sweep_dir, metric, direction, params, ranked + others, best=ranked[0] if ranked else None,
                           planned=planned if planned is not None else None, missing=missing, resume_hint=resume_hint(plan, sweep_dir))
    _write(summary, plot=plot)
    return summary


def _planned(plan: dict[str, Any] | None, number: int) -> list[str]:
    jobs = (plan or {}).get("jobs") or []
    return list(jobs[number]) if 0 <= number < len(jobs) and isinstance(jobs[number], list) else []


def _mark_ties(ranked: list[dict[str, Any]], metric: str) -> None:
    """With repeats, a job whose 95 % interval of the metric overlaps the best job's is tied with it."""
    best = ranked[0].get("interval", {}).get(metric) if ranked else None
    if not best:
        return
    for job in ranked:
        mine = job.get("interval", {}).get(metric)
        job["tied_with_best"] = bool(mine) and mine[0] <= best[1] and best[0] <= mine[1]


def _row(job: dict[str, Any], params: list[str], metric: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"job": job["job"], "status": job["status"]}
    row.update({key: job["params"].get(key) for key in params})
    row.update(sorted(job["metrics"].items()))
    for key in ("repeats", "backtest_folds"):
        if key in job:
            row[key] = job[key]
    if metric and metric in job.get("interval", {}):
        interval = job["interval"][metric] or [None, None]
        row.update({f"{metric}_std": job["std"].get(metric), f"{metric}_ci_low": interval[0], f"{metric}_ci_high": interval[1],
                    "tied_with_best": job.get("tied_with_best")})
    for key in ("epochs", "train_time_s", "n_parameters"):
        row[key] = job.get(key)
    row["error"] = job.get("error", "")
    row["run_dir"] = job["run_dir"]
    return row


def _write(summary: SweepSummary, *, plot: bool) -> None:
    table = summary.table()
    first = ["job", "status", *summary.params, summary.metric, f"{summary.metric}_std", f"{summary.metric}_ci_low", f"{summary.metric}_ci_high", "tied_with_best"]
    table = table[[c for c in first if c in table] + [c for c in table.columns if c not in first]]
    folder = summary.sweep_dir
    summary.files.append(write_atomic(folder / "sweep_summary.csv", lambda p: table.to_csv(p, index=False)))
    record = {
        "sweep_dir": str(folder),
        "optimized_metric": summary.metric,
        "direction": summary.direction,
        "swept": summary.params,
        "planned_jobs": summary.planned,
        "finished_jobs": summary.finished,
        "missing_jobs": summary.missing,
        "best": _public(summary.best) if summary.best else None,
        "jobs": [_public(j) for j in summary.jobs],
    }
    summary.files.append(write_json(folder / "sweep_summary.json", record))
    if summary.best:
        _link_best(folder, Path(summary.best["run_dir"]))
    if plot and summary.params and any(j["status"] == "completed" for j in summary.jobs):
        from knowit.plots.sweep import sweep_plot

        summary.files.append(sweep_plot(summary, folder / f"sweep_{summary.metric}.png"))


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k != "config"}


def _link_best(folder: Path, target: Path) -> None:
    """``<sweep>/best`` -> the best job, replaced atomically (a relative link: the folder may move)."""
    link = folder / "best"
    tmp = folder / ".best.tmp"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target.name, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:  # a filesystem without symlinks: sweep_summary.json still names the best job
        tmp.unlink(missing_ok=True)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def format_table(summary: SweepSummary) -> str:
    """The printed table: best first (marked ``*``), failed jobs last with their error line."""
    metric_cols = [summary.metric] + sorted({k for j in summary.jobs for k in j["metrics"]} - {summary.metric})
    metric_cols = [c for c in metric_cols if c.startswith(("valid_", "test_")) or c == summary.metric]
    repeated = any(summary.metric in j.get("interval", {}) for j in summary.jobs)
    header = ["", "job", "status", *summary.params, *metric_cols, *(["95% interval"] if repeated else [])]
    rows = []
    for job in summary.jobs:
        mark = "*" if job is summary.best else "=" if job.get("tied_with_best") else ""
        row = [mark, str(job["job"]), job["status"], *(_cell(job["params"].get(p)) for p in summary.params)]
        row += [_cell(job["metrics"].get(c)) for c in metric_cols]
        if repeated:
            interval = job.get("interval", {}).get(summary.metric)
            row.append(f"[{interval[0]:.4g}, {interval[1]:.4g}]" if interval else "")
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    total = summary.planned if summary.planned is not None else len(summary.jobs)
    lines = [f"sweep {summary.sweep_dir} ({summary.finished} of {total} jobs finished, sorted by {summary.metric}, {summary.direction})"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    for job in summary.jobs:
        if job["status"] not in ("completed", "missing", "incomplete"):
            lines.append(f"job {job['job']} {job['status']}: {job.get('error', 'no error recorded')}")
    if summary.missing:
        lines.append(f"missing: job{'s' if len(summary.missing) > 1 else ''} {', '.join(map(str, summary.missing))} never finished; "
                     f"run them with: {summary.resume_hint}")
    if repeated:
        over = "backtest folds before the test set" if summary.metric.startswith("backtest_") else "repeats"
        lines.append(f"{summary.metric} is the mean over {over}; = marks jobs tied with the best (their 95 % intervals overlap)")
    if summary.best:
        lines.append(f"best: job {summary.best['job']} ({summary.metric} = {summary.best['value']:.6g}) -> {summary.sweep_dir / 'best'}")
    else:
        lines.append("best: none (no job completed)")
    return "\n".join(lines)
