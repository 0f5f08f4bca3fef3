"""Rolling-origin backtest of a trained configuration on a time series.

The origins ``c_0 < c_1 < ... < c_{k-1}`` split the run's test region (the last
``split_portions[2]`` of the prediction points in time, or the last 20 % without a test set)
into ``k`` equal shares of points. Fold ``f``:

- **test**: the points whose whole window (every row it reads, inputs and targets) starts at
  or after ``c_f`` and whose window starts before ``c_{f+1}``;
- **training data**: the points whose whole window ends before ``c_f`` (the purge gap: a point
  whose window straddles the origin belongs to neither), in ``sliding`` mode only those whose
  window also starts within the first fold's training span before ``c_f``; the latest
  ``split_portions[1] / (split_portions[0] + split_portions[1])`` of them, purged the same way,
  validate.

Times are compared across every instance and slice, so no fold trains on a row any of its
test windows reads, nor on anything later than its origin. With ``refit`` each fold trains the
run's config afresh on its training data (scalers fitted on its training rows) into
``<folder>/fold-<f>``; without it the trained model is scored as it is. That is honest only
when the model never saw the test region, so it needs a chronological split (whose training
and validation rows all lie before ``c_0``). Every fold is scored in original units, with the
naive baselines on the same points (``knowit.comparison.baselines``). Written to
``<run>/backtests/<mode>-<k>folds[-refit]/``: ``folds.csv``, ``backtest.json`` (per-fold scores
and each score's mean, std and 95 % t-interval over folds) and ``<metric>_per_fold.png``.

``sweep.objective=backtest`` (``knowit.sweeps.objective``) runs the same refit folds over the
time *before* the run's test set instead (``selection_layout``), so that a sweep can rank
configurations by a backtest without ever reading the test set.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knowit.config.options import BacktestOptions
from knowit.errors import KnowItConfigError, KnowItRunError

DEFAULT_TEST_SHARE = 0.2


@dataclass
class Fold:
    origin: float  # c_f, in the dataset's time unit (ns since the epoch for dates)
    end: float  # c_{f+1} (inf for the last fold)
    sets: dict[str, np.ndarray]  # train / valid / test prediction points (rows)


@dataclass
class Backtest:
    folder: Path
    mode: str
    refit: bool
    folds: pd.DataFrame  # one row per fold
    aggregate: dict[str, dict[str, float]]  # score -> n, mean, std, ci_low, ci_high
    files: list[Path] = field(default_factory=list)

    def format(self) -> str:
        return format_backtest(self)


def _window_times(data: Any, spec: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time of the first and the last row each point's window reads (inside its slice)."""
    from knowit.data.windows import touched_rows

    first, last = touched_rows(rows, data.slices, spec.lo, spec.hi)
    return data.times[first], data.times[last]


def fold_layout(data: Any, first: np.ndarray, counts: np.ndarray, spec: Any, portions: list[float], folds: int, mode: str) -> list[Fold]:
    """The folds over the run's test region (see the module docstring); pure index arithmetic."""
    from knowit.data.windows import expand_ranges

    test_share = portions[2] if portions[2] > 0 else DEFAULT_TEST_SHARE
    return _layout(data, expand_ranges(first, counts), spec, test_share, _valid_share(portions), folds, mode)


def selection_layout(data: Any, first: np.ndarray, counts: np.ndarray, spec: Any, portions: list[float], folds: int, mode: str) -> list[Fold]:
    """The folds of ``sweep.objective=backtest``: only the points whose whole window ends before
    the first row any test window of the run's own (chronological) split reads, so selecting on
    them never reads the test set. Their last ``valid / (train + valid)`` share (20 % without a
    validation set) is cut into the folds' test shares; the purge is the same as above."""
    from knowit.data.splitting import split_points
    from knowit.data.windows import expand_ranges

    rows = expand_ranges(first, counts)
    test = split_points(data, first, counts, spec, "chronological", list(portions), 0)["test"]
    if len(test):
        rows = rows[_window_times(data, spec, rows)[1] < _window_times(data, spec, test)[0].min()]
    share = _valid_share(portions) or DEFAULT_TEST_SHARE
    return _layout(data, rows, spec, share, _valid_share(portions), folds, mode)


def _valid_share(portions: list[float]) -> float:
    return portions[1] / (portions[0] + portions[1])


def _layout(data: Any, rows: np.ndarray, spec: Any, test_share: float, valid_share: float, folds: int, mode: str) -> list[Fold]:
    """``folds`` folds whose test points split the last ``test_share`` of ``rows`` in time."""
    from knowit.data.gaps import without_filled_targets

    rows = without_filled_targets({"rows": rows}, data.filled_runs, spec.out_offsets)[0]["rows"]  # never score a filled row
    point_times = np.sort(data.times[rows])
    n = len(point_times)
    if n == 0:
        raise KnowItConfigError("folds: no prediction points to backtest over; use a longer dataset or shorter windows")
    start = 1.0 - test_share
    cuts = [point_times[min(n - 1, int(round((start + test_share * f / folds) * n)))] for f in range(folds)] + [np.inf]
    begins, ends = _window_times(data, spec, rows)
    span = cuts[0] - point_times[0]  # the first fold's training span (sliding mode keeps it)
    out = []
    for f in range(folds):
        origin, end = cuts[f], cuts[f + 1]
        if not origin < end:
            raise KnowItConfigError(f"folds: {folds} folds leave fold {f} without test points; use fewer folds")
        test = rows[(begins >= origin) & (begins < end)]
        known = ends < origin
        if mode == "sliding":
            known &= begins >= origin - span
        pool = rows[known]
        if valid_share > 0 and len(pool):
            cut = np.sort(data.times[pool])[min(len(pool) - 1, int(round((1.0 - valid_share) * len(pool))))]
            train, valid = pool[ends[known] < cut], pool[begins[known] >= cut]
        else:
            train, valid = pool, pool[:0]
        if len(train) == 0 or len(test) == 0:
            raise KnowItConfigError(f"folds: fold {f} has {len(train)} training and {len(test)} test points; use fewer folds")
        out.append(Fold(float(origin), float(end), {"train": train, "valid": valid, "test": test}))
    return out


def _check_series(cfg: Any) -> None:
    from knowit.data.builtin import ensure_builtin
    from knowit.data.store import DatasetStore

    store = DatasetStore(cfg.exp_dir)
    ensure_builtin(store, cfg.data.name)
    if store.kind(cfg.data.name) == "arrays":
        raise KnowItConfigError(f"data.name: a backtest needs a time series; {cfg.data.name!r} is an array dataset, with no time order")


def run_backtest(exp_dir: str | Path, model_name: str, given: BacktestOptions, *,
                 train: Callable[..., Any] | None = None, progress_bar: bool | None = False, plot: bool = True) -> Backtest:
    """``given``: the validated options (``KnowIt.backtest`` builds them); ``train``: the
    orchestrator's ``train_model`` for ``refit`` (handed in by the caller: this layer never
    imports the runs)."""
    from knowit.comparison.compare import resolve_run
    from knowit.data.windows import point_ranges
    from knowit.results.load import load_run, run_config
    from knowit.results.predictions import run_data
    from knowit.rundir import RunDir

    folds, mode, refit = given.folds, given.mode, given.refit
    if refit and train is None:
        raise KnowItConfigError("refit: a refit backtest needs the training function (KnowIt.backtest hands it in)")
    path = resolve_run(Path(exp_dir), model_name)
    summary = RunDir(path).read_summary() or {}
    if summary.get("repeats"):
        raise KnowItRunError(f"model_name: {model_name!r} holds {summary['repeats']} repeats; backtest one of them ({model_name}/rep-0)")
    cfg = run_config(RunDir(path), exp_dir=Path(exp_dir))  # the run folder never chooses code (see results/load.py)
    _check_series(cfg)
    from knowit.data.splitting import resolve_split_method

    if not refit and resolve_split_method(cfg.data.split_method, arrays=False) != "chronological":  # a series: auto is chronological
        raise KnowItConfigError(f"refit: the model was trained on a {cfg.data.split_method} split, so its training rows lie "
                                "among the backtest's test rows; pass refit=true (--refit) to train each fold afresh")
    folder = path / "backtests" / f"{mode}-{folds}folds{'-refit' if refit else ''}"
    record = {"model": model_name, "run_dir": str(path), "region": "test"}
    if refit:
        return refit_backtest(cfg, folder, model_name, fold_layout, folds=folds, mode=mode, train=train,
                              progress_bar=progress_bar, plot=plot, record=record)
    loaded = load_run(path)
    datamodule = run_data(loaded)
    p = datamodule.prepared
    fold_list = fold_layout(p.data, *point_ranges(p.data.slices, p.spec), p.spec, list(cfg.data.split_portions), folds, mode)
    rows, reports = [], []
    for f, fold in enumerate(fold_list):
        datamodule.prepared.sets = {**datamodule.prepared.sets, "test": fold.sets["test"]}
        row, report = _score_fold(loaded.module, datamodule, cfg, f, fold, refit=False)
        rows.append(row)
        reports.append(report)
    return _finish(folder, mode, False, rows, reports, plot, record)


def refit_backtest(cfg: Any, folder: Path, name: str, layout: Callable[..., list[Fold]], *, folds: int, mode: str,
                   train: Callable[..., Any], progress_bar: bool | None = False, plot: bool = True,
                   record: dict[str, Any] | None = None) -> Backtest:
    """Train ``cfg`` afresh on each fold ``layout`` makes (``fold_layout``: the test region;
    ``selection_layout``: before the test set) into ``<folder>/fold-<f>`` and score it."""
    from knowit.data.datamodule import KnowItDataModule

    _check_series(cfg)
    made: dict[str, list[Fold]] = {}

    def split(data: Any, first: np.ndarray, counts: np.ndarray, spec: Any) -> dict[str, np.ndarray]:
        made["folds"] = layout(data, first, counts, spec, list(cfg.data.split_portions), folds, mode)
        return made["folds"][0].sets

    base = KnowItDataModule(cfg.data, cfg.exp_dir, cfg.seed, split=split)
    rows, reports = [], []
    for f, fold in enumerate(made["folds"]):
        datamodule = base if f == 0 else KnowItDataModule(cfg.data, cfg.exp_dir, cfg.seed, split=lambda *a, s=fold.sets: s)
        module = _train_fold(train, cfg, datamodule, folder / f"fold-{f}", name, f, progress_bar)
        row, report = _score_fold(module, datamodule, cfg, f, fold, refit=True)
        rows.append(row)
        reports.append(report)
    return _finish(folder, mode, True, rows, reports, plot, record or {"model": name, "region": "test"})


def _score_fold(module: Any, datamodule: Any, cfg: Any, f: int, fold: Fold, *, refit: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """One row of folds.csv: the fold's test points scored in original units, with the naive
    baselines and skill on the same points."""
    from knowit.comparison.baselines import baseline_report
    from knowit.results.predictions import predict_set

    points, outputs, targets = predict_set(module, datamodule, "test")
    report = baseline_report(datamodule.prepared, "test", points, outputs, targets, cfg.data.season)
    row: dict[str, Any] = {"fold": f, "origin": _time_label(datamodule.prepared.data, fold.origin)}
    if refit:  # without refit the model keeps its own training data
        row.update(n_train=int(len(fold.sets["train"])), n_valid=int(len(fold.sets["valid"])))
    row["n_test"] = int(len(points))
    row.update({k: v for k, v in report["model"].items()})
    for base_name, scores in report["naive"].items():
        row.update({f"{k}_{base_name}": v for k, v in scores.items() if k in ("mae", "rmse", "error_rate", "accuracy")})
        row.update({f"skill_{k}_vs_{base_name}": v for k, v in report["skill"][base_name].items() if k in ("mae", "rmse", "error_rate")})
    return row, report


def _finish(folder: Path, mode: str, refit: bool, rows: list[dict[str, Any]], reports: list[dict[str, Any]], plot: bool,
            record: dict[str, Any]) -> Backtest:
    """folds.csv, backtest.json (per fold and the aggregate over folds) and the per-fold plot."""
    from knowit.atomic_io import write_atomic, write_json

    table = pd.DataFrame(rows)
    aggregate = _aggregate(table)
    result = Backtest(folder, mode, refit, table, aggregate)
    result.files.append(write_atomic(folder / "folds.csv", lambda p: table.to_csv(p, index=False)))
    result.files.append(write_json(folder / "backtest.json", {
        **record, "mode": mode, "refit": refit, "folds": len(rows),
        "per_fold": table.to_dict(orient="records"), "aggregate": aggregate,
        "season": reports[0].get("season"),
    }))
    if plot:
        from knowit.plots.comparison import metric_per_fold

        key = "mae" if "mae" in table else "error_rate"
        lines = {"model": table[key].tolist(), **{c[len(key) + 1:]: table[c].tolist() for c in table.columns if c.startswith(f"{key}_")}}
        shade = {"model": (aggregate[key]["mean"], aggregate[key]["ci_low"], aggregate[key]["ci_high"])}
        result.files.append(metric_per_fold(lines, folder / f"{key}_per_fold.png", mean_interval=shade, title=f"test {key} per fold"))
    return result


def _train_fold(train_model: Any, cfg: Any, datamodule: Any, path: Path, model_name: str, f: int, progress_bar: bool | None) -> Any:
    from knowit.results.load import module_from_checkpoint

    root = dataclasses.replace(cfg.root, model_name=f"{model_name}-backtest-fold-{f}", overwrite=True, repeats=1)
    trainer = dataclasses.replace(cfg.trainer, resume=None)
    fold_cfg = dataclasses.replace(cfg, root=root, trainer=trainer)
    result = train_model(fold_cfg, run_path=path, and_viz=False, progress_bar=progress_bar, epoch_lines=False, datamodule=datamodule)
    if result.status != "completed":
        raise KnowItRunError(f"fold {f}: training ended {result.status}; see {path / 'summary.json'}")
    return module_from_checkpoint(result.best_checkpoint or path / "checkpoints" / "last.ckpt", fold_cfg)


def _aggregate(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    from knowit.comparison.stats import t_interval

    skip = {"fold", "origin", "n_train", "n_valid", "n_test"}
    return {c: t_interval(table[c].to_numpy(dtype=np.float64)).as_dict() for c in table.columns
            if c not in skip and np.isfinite(table[c].to_numpy(dtype=np.float64)).all()}


def _time_label(data: Any, t: float) -> str:
    if data.time_kind == "datetime":
        return str(np.datetime64(int(t), "ns").astype("datetime64[s]"))
    return f"{t:g}"


def format_backtest(b: Backtest) -> str:
    key = "mae" if "mae" in b.folds else "error_rate"
    cols = [c for c in ("fold", "origin", "n_train", "n_test") if c in b.folds] + [key] + [c for c in b.folds.columns if c.startswith(f"{key}_") or c.startswith(f"skill_{key}_vs_")]
    shown = b.folds[cols]
    header = [c.replace(f"skill_{key}_vs_", "skill vs ") for c in cols]
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r] for r in shown.itertuples(index=False)]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
    lines = [f"backtest: {len(b.folds)} folds, {b.mode} window, {'refit per fold' if b.refit else 'the trained model'} (original units)"]
    lines += ["  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in [header, *cells]]
    for name in [key] + [c for c in b.aggregate if c.startswith(f"skill_{key}_vs_")]:
        a = b.aggregate.get(name)
        if a:
            lines.append(f"{name}: mean {a['mean']:.4g} ± {a['std']:.3g}, 95 % interval [{a['ci_low']:.4g}, {a['ci_high']:.4g}] over {a['n']} folds")
    lines.append(f"saved: {b.folder}")
    return "\n".join(lines)
