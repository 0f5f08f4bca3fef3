"""What a sweep job returns to its sweeper: ``sweep.objective``.

- ``validation`` (the default): the job's run, its ``optimized_metric`` (``valid_loss``, ...).
- ``backtest``: the job's run, then a rolling-origin backtest of the same config over the
  time before the test set (``knowit.comparison.backtest.selection_layout``: every fold's
  windows end before the first row a test window reads; each fold trains afresh, with the
  backtest's purge gap). The job returns ``backtest_<score>``, the mean of that score over
  the folds in original units. The job's ``summary.json`` records it in ``metrics`` with its
  spread in ``metrics_std`` and ``metrics_interval`` (95 % t-interval over folds), which the
  sweep summary ranks by and marks ties with; the folds are saved under
  ``<job>/backtests/selection-<mode>-<k>folds/``. The test set never touches the selection:
  the job's own run is scored on it as usual, for the record.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from knowit.config.run_config import RunConfig


def selection_folder(run_dir: Path, cfg: RunConfig) -> Path:
    b = cfg.root.sweep.backtest
    return Path(run_dir) / "backtests" / f"selection-{b.mode}-{b.folds}folds"


def train_for_objective(cfg: RunConfig, run_path: Path, **train_kwargs: Any) -> Any:
    """Train one sweep job (``train_model(cfg, run_path=..., **train_kwargs)``) and, under
    ``sweep.objective=backtest``, add the backtest aggregate to its result and summary."""
    from knowit.orchestrator import train_model

    result = train_model(cfg, run_path=run_path, **train_kwargs)
    if cfg.root.sweep.objective != "backtest" or result.status != "completed":
        return result
    from knowit.comparison.backtest import refit_backtest, selection_layout
    from knowit.comparison.scores import CLASSIFICATION_SCORES, REGRESSION_SCORES
    from knowit.rundir import RunDir

    run = RunDir(result.run_dir)
    name = (run.read_summary() or {}).get("model_name") or run.path.name
    b = cfg.root.sweep.backtest
    try:
        backtest = refit_backtest(cfg, selection_folder(run.path, cfg), str(name), selection_layout, folds=b.folds, mode=b.mode,
                                  train=train_model, progress_bar=train_kwargs.get("progress_bar"),
                                  record={"model": str(name), "run_dir": str(run.path), "region": "before the test set"})
    except BaseException as err:  # the run itself is fine: keep its summary, say why the job did not finish
        from knowit.errors import KnowItInterrupted
        from knowit.sweeps.guard import failure_message

        stopped = isinstance(err, (KeyboardInterrupt, SystemExit, KnowItInterrupted))  # a resumed sweep runs the job again
        summary = run.read_summary() or {}
        summary.update(status="interrupted" if stopped else "failed", error=f"sweep.objective: backtest: {failure_message(err)}")
        run.write_summary(summary)
        raise
    # the model's own scores (its skill over the naive baselines stays in backtest.json)
    scores = {f"backtest_{k}": v for k, v in backtest.aggregate.items() if k in (*REGRESSION_SCORES, *CLASSIFICATION_SCORES)}
    summary = run.read_summary() or {}
    summary["metrics"] = {**(summary.get("metrics") or {}), **{k: v["mean"] for k, v in scores.items()}}
    summary["metrics_std"] = {**(summary.get("metrics_std") or {}), **{k: v["std"] for k, v in scores.items()}}
    summary["metrics_interval"] = {**(summary.get("metrics_interval") or {}), **{k: [v["ci_low"], v["ci_high"]] for k, v in scores.items()}}
    summary["backtest"] = {"objective": cfg.root.optimized_metric, "folds": b.folds, "mode": b.mode, "region": "before the test set",
                           "folder": str(backtest.folder.relative_to(run.path))}
    run.write_summary(summary)
    result.metrics = summary["metrics"]
    return result
