"""``knowit compare m1 m2 [...]``: a leaderboard and paired tests on the same points.

Each run's set is predicted afresh from its best checkpoint (saved predictions may be stale
or scaled) and saved as ``<run>/predictions/<set>.parquet``. The runs must share their data
fingerprint (where recorded), task, targets and exact points; otherwise the comparison is
refused and the message says what differs. Then:

- the leaderboard: scores in original units, parameters, training time and the skill over
  each naive baseline, scored on the same points (``knowit.comparison.baselines``);
- for each pair, Diebold-Mariano on the per-point losses in time order (regression; squared or
  absolute error, HAC lag = horizon - 1) or McNemar on per-point correctness (classification),
  with Holm-adjusted p-values over all pairs;
- a model trained with ``repeats=N`` enters with every repeat: its scores are the means over
  repeats (with std and 95 % t-interval), and the paired test uses each point's loss averaged
  over its repeats (for classifiers the 0-1 loss, so DM replaces McNemar);
- ``<exp_dir>/comparisons/<name>/``: ``leaderboard.csv``, ``comparison.json`` and
  ``error_differences.png`` (each pair's per-point loss difference and its running mean).
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knowit.config.options import CompareOptions
from knowit.errors import KnowItRunError

# config keys that change which points exist or what their targets are
DATA_KEYS = ("name", "task", "out_components", "out_chunk", "in_chunk", "split_method", "split_portions", "split_column", "padding", "val_fraction", "stratify")


@dataclass
class RunPredictions:
    name: str
    path: Path
    cfg: Any  # the run's validated RunConfig
    summary: dict[str, Any]
    frame: pd.DataFrame  # the tidy predictions table, sorted by point (stable within a point)
    frames: list[pd.DataFrame] = field(default_factory=list)  # one per repeat (repeats=N), else [frame]

    @property
    def first_run(self) -> Path:
        """A run directory holding a checkpoint and the data config (rep-0 of a repeated model)."""
        reps = _repeat_dirs(self.path)
        return reps[0] if reps else self.path


@dataclass
class Comparison:
    folder: Path
    set_name: str
    task: str
    leaderboard: pd.DataFrame
    tests: list[dict[str, Any]]
    baselines: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def format(self) -> str:
        return format_comparison(self)


def resolve_run(exp_dir: Path, name: str) -> Path:
    """A model name under ``<exp_dir>/models`` (``m`` or ``m/rep-1``) or a run directory path."""
    given = Path(name).expanduser()
    for path in (exp_dir / "models" / name, given):
        if (path / "config.yaml").is_file():
            return path.resolve()
    raise KnowItRunError(f"model_names: no trained model {name!r} in {exp_dir / 'models'} (nor a run directory at that path)")


def _repeat_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.glob("rep-*") if (p / "config.yaml").is_file())


def point_keys(frame: pd.DataFrame) -> list[str]:
    return ["sample"] if is_array_table(frame) else ["instance", "slice", "time"]


def is_array_table(frame: pd.DataFrame) -> bool:
    """Whether a predictions table holds an array dataset's samples (no instance, slice, time)."""
    return "instance" not in frame.columns


def load_predictions(exp_dir: Path, name: str, set_name: str) -> RunPredictions:
    """A run's predictions of ``set_name``; for a model trained with repeats, every repeat's."""
    from knowit.results.load import load_run
    from knowit.results.predictions import predictions_frame, save_predictions
    from knowit.results.load import run_config
    from knowit.rundir import RunDir

    path = resolve_run(exp_dir, name)
    frames = []
    for rep in _repeat_dirs(path) or [path]:
        run = load_run(rep)
        frame = predictions_frame(run, set_name)
        save_predictions(frame, run.run.predictions, set_name)
        frames.append(frame.sort_values(point_keys(frame), kind="stable").reset_index(drop=True))
    keys = point_keys(frames[0])
    for k, frame in enumerate(frames[1:], 1):
        if len(frame) != len(frames[0]) or not all(np.array_equal(frame[c].to_numpy(), frames[0][c].to_numpy()) for c in keys):
            raise KnowItRunError(f"model_names: the repeats of {name!r} are scored on different {set_name} points (rep-0 and rep-{k}: "
                                 "a seeded random split); compare single repeats instead")
    return RunPredictions(name, path, run_config(RunDir(path), exp_dir=Path(exp_dir)), RunDir(path).read_summary() or {}, frames[0], frames)


def _fingerprint(summary: dict[str, Any]) -> Any:
    """The stored dataset's content hash the run was trained on (where the run recorded one)."""
    data = summary.get("data") or {}
    return summary.get("data_hash") or data.get("content_hash")


def check_comparable(runs: list[RunPredictions], set_name: str) -> None:
    """Refuse runs that are not scored on the same points of the same data, saying what differs."""
    first = runs[0]
    for other in runs[1:]:
        pair = f"{first.name!r} and {other.name!r}"
        fa, fb = _fingerprint(first.summary), _fingerprint(other.summary)
        if fa and fb and fa != fb:
            raise KnowItRunError(f"model_names: {pair} were trained on different data (fingerprints {fa} and {fb})")
        for key in ("task", "name", "out_components", "out_chunk"):
            a, b = getattr(first.cfg.data, key, None), getattr(other.cfg.data, key, None)
            if a != b:
                raise KnowItRunError(f"model_names: {pair} differ in data.{key} ({a!r} vs {b!r}); they do not predict the same targets")
        ka, kb = point_keys(first.frame), point_keys(other.frame)
        same = ka == kb and len(first.frame) == len(other.frame) and all(
            np.array_equal(first.frame[k].to_numpy(), other.frame[k].to_numpy()) for k in ka
        )
        if same and "target" in first.frame:
            same = np.array_equal(first.frame["target"].to_numpy(), other.frame["target"].to_numpy())
        if not same:
            keys = point_keys(first.frame)
            pa = set(map(tuple, first.frame[keys].drop_duplicates().astype(str).to_numpy()))
            pb = set(map(tuple, other.frame[keys].drop_duplicates().astype(str).to_numpy()))
            config_diff = [
                f"data.{k} {getattr(first.cfg.data, k, None)!r} vs {getattr(other.cfg.data, k, None)!r}"
                for k in DATA_KEYS if getattr(first.cfg.data, k, None) != getattr(other.cfg.data, k, None)
            ]
            from knowit.data.splitting import resolve_split_method

            method = resolve_split_method(str(getattr(first.cfg.data, "split_method", "auto")), arrays=is_array_table(first.frame))
            if first.cfg.seed != other.cfg.seed and method.endswith("random"):  # only a random split depends on the seed
                config_diff.append(f"seed {first.cfg.seed} vs {other.cfg.seed} (seeds the split)")
            why = f" ({'; '.join(config_diff)})" if config_diff else ""
            raise KnowItRunError(
                f"model_names: {pair} are not scored on the same {set_name} points: {len(pa - pb)} only in "
                f"{first.name!r}, {len(pb - pa)} only in {other.name!r}{why}"
            )


def _per_point(frame: pd.DataFrame, task: str, loss: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: the loss (regression) or whether it is right (classification); then the
    predictions and targets as scored (``(N, values)`` floats, or class names)."""
    pred, target = frame["prediction"].to_numpy(), frame["target"].to_numpy()
    if task == "classification":
        return pred == target, pred, target
    from knowit.comparison.scores import point_losses

    n_points = len(frame[point_keys(frame)].drop_duplicates())
    pred, target = pred.reshape(n_points, -1), target.reshape(n_points, -1)
    return point_losses(pred, target, loss), pred, target


def _baselines(runs: list[RunPredictions], set_name: str) -> tuple[dict[str, np.ndarray], dict[str, Any], np.ndarray | None]:
    """Naive forecasts on the compared points, in the frame's point order (values, or class names)."""
    from knowit.comparison.baselines import naive_predictions
    from knowit.results.load import load_run
    from knowit.results.predictions import run_data

    first = runs[0]
    prepared = run_data(load_run(first.first_run)).prepared
    rows = np.asarray(prepared.set_points(set_name), dtype=np.int64)
    keys = point_keys(first.frame)
    table = pd.DataFrame(prepared.point_columns(rows))
    table["row"] = rows
    wanted = first.frame[keys].drop_duplicates().reset_index(drop=True)
    matched = wanted.merge(table.drop_duplicates(keys), on=keys, how="left")
    if matched["row"].isna().any():
        return {}, {"missing": {"all": "the compared points could not be matched to the dataset's rows"}}, None
    points = matched["row"].to_numpy(dtype=np.int64)
    naive, notes = naive_predictions(prepared, points, getattr(first.cfg.data, "season", None))
    if prepared.task == "classification":
        names = np.asarray(prepared.class_names, dtype=object)
        naive = {k: names[v] for k, v in naive.items()}
    else:
        naive = {k: v.reshape(len(points), -1) for k, v in naive.items()}
    return naive, notes, points


def compare_runs(exp_dir: str | Path, given: CompareOptions, *, plot: bool = True) -> Comparison:
    """``given``: the validated options (``KnowIt.compare`` builds them)."""
    from knowit.atomic_io import write_atomic, write_json
    from knowit.comparison.baselines import horizon
    from knowit.comparison.scores import scores, skill
    from knowit.comparison.stats import diebold_mariano, holm, mcnemar

    exp_dir = Path(exp_dir)
    names, set_name, loss, name = given.model_names, given.set_name, given.loss, given.name
    runs = [load_predictions(exp_dir, n, set_name) for n in names]
    check_comparable(runs, set_name)
    task = runs[0].cfg.data.task
    naive, notes, _ = _baselines(runs, set_name)
    truth = _per_point(runs[0].frame, task, loss)[2]  # the same for every run (checked)
    naive_scores = {k: scores(task, v, truth) for k, v in naive.items()}

    rows, per_point = [], {}
    repeated = any(len(r.frames) > 1 for r in runs)
    for run in runs:
        rep_values, rep_scores = [], []
        for frame in run.frames:
            values, predicted, target = _per_point(frame, task, loss)
            rep_values.append(values.astype(np.float64) if repeated and task == "classification" else values)
            rep_scores.append(scores(task, predicted, target))
        # a repeated model: each point's loss (or 0-1 correctness) averaged over its repeats
        per_point[run.name] = np.mean(rep_values, axis=0) if len(rep_values) > 1 else rep_values[0]
        model = {k: float(np.mean([s[k] for s in rep_scores])) for k in rep_scores[0]}
        n_reps = len(run.frames)
        time = run.summary.get("train_time_s")
        row: dict[str, Any] = {"model": run.name, **model, "n_parameters": run.summary.get("n_parameters"),
                               "train_time_s": time / n_reps if time is not None else None}
        if repeated:
            from knowit.comparison.stats import t_interval

            key = "mae" if task != "classification" else "accuracy"
            interval = t_interval([s[key] for s in rep_scores])
            row.update({"repeats": n_reps, f"{key}_std": interval.std, f"{key}_ci_low": interval.low, f"{key}_ci_high": interval.high})
        for base, base_scores in naive_scores.items():
            for metric in skill(model, base_scores):
                row[f"skill_{metric}_vs_{base}"] = float(np.mean([skill(s, base_scores)[metric] for s in rep_scores]))
        rows.append(row)
    key = "mae" if task != "classification" else "accuracy"
    board = pd.DataFrame(rows).sort_values(key, ascending=task != "classification", kind="stable").reset_index(drop=True)

    lag_horizon = 1
    if task != "classification":
        from knowit.results.load import load_run
        from knowit.results.predictions import run_data

        lag_horizon = horizon(run_data(load_run(runs[0].first_run)).prepared)
    tests = []
    for a, b in itertools.combinations([r.name for r in runs], 2):
        if task == "classification" and not repeated:
            result = mcnemar(per_point[a], per_point[b])
        elif task == "classification":  # correctness averaged over repeats is no longer 0/1: DM on the 0-1 loss
            result = diebold_mariano(1.0 - per_point[a], 1.0 - per_point[b], horizon=1)
        else:
            result = diebold_mariano(per_point[a], per_point[b], horizon=lag_horizon)
        tests.append({"a": a, "b": b, **result.as_dict(), **({"loss": loss} if task != "classification" else {})})
    for test, adjusted in zip(tests, holm([t["p_value"] for t in tests])):
        test["p_holm"] = adjusted

    folder = exp_dir / "comparisons" / (name or _default_name(names, set_name))
    comparison = Comparison(folder, set_name, task, board, tests, {"scores": naive_scores, **notes})
    comparison.files.append(write_atomic(folder / "leaderboard.csv", lambda p: board.to_csv(p, index=False)))
    comparison.files.append(write_json(folder / "comparison.json", {
        "set": set_name, "task": task, "models": names, "run_dirs": [str(r.path) for r in runs],
        "n_points": int(len(next(iter(per_point.values())))), "loss": loss if task != "classification" else None,
        "leaderboard": board.to_dict(orient="records"), "baselines": comparison.baselines, "tests": tests,
    }))
    if plot:
        from knowit.plots.comparison import error_differences

        diffs = {f"{t['a']} - {t['b']}": per_point[t["a"]].astype(np.float64) - per_point[t["b"]].astype(np.float64) for t in tests}
        label = f"{loss} error difference" if task != "classification" else "correct(a) - correct(b)"
        comparison.files.append(error_differences(diffs, folder / "error_differences.png", ylabel=label, title=f"{set_name} set"))
    return comparison


def _default_name(names: list[str], set_name: str) -> str:
    joined = "_vs_".join(re.sub(r"[^\w.-]+", "~", n) for n in names)
    return f"{joined[:150]}_{set_name}"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def format_comparison(c: Comparison) -> str:
    board = c.leaderboard
    columns = [col for col in board.columns if not col.startswith("skill_")]
    skill_cols = [col for col in board.columns if col.startswith("skill_") and ("_mae_" in col or "_error_rate_" in col)]
    header = columns + [col.replace("skill_mae_vs_", "skill vs ").replace("skill_error_rate_vs_", "skill vs ") for col in skill_cols]
    table = [[_cell(v) for v in row] for row in board[columns + skill_cols].itertuples(index=False)]
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    lines = [f"leaderboard on the {c.set_name} set (original units; skill = 1 - model/naive on the same points)"]
    lines += ["  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in [header, *table]]
    if c.baselines.get("scores"):
        key = "error_rate" if c.task == "classification" else "mae"
        naive = ", ".join(f"{k} {v[key]:.4g}" for k, v in c.baselines["scores"].items())
        lines.append(f"naive baselines ({key}): {naive}")
    name = "McNemar" if c.task == "classification" else "Diebold-Mariano"
    lines.append(f"paired tests ({name}; p-values Holm-adjusted over {len(c.tests)} pair{'s' if len(c.tests) > 1 else ''}):")
    for t in c.tests:
        verdict = "differ" if t["p_holm"] < 0.05 else "no significant difference"
        lines.append(f"  {t['a']} vs {t['b']}: statistic {t['statistic']:+.3f}, p {t['p_value']:.3g}, Holm p {t['p_holm']:.3g} -> {verdict} at 5%")
    lines.append(f"saved: {c.folder}")
    return "\n".join(lines)
