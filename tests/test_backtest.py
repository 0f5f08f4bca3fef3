"""Rolling-origin backtest: folds never train on a row their test windows read; per-fold scores and intervals."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_ARCH

DATA = {"in_chunk": [-5, 0], "out_chunk": [1, 3], "in_components": ["x1", "y1"], "out_components": ["y1"]}
TRAINER = {"max_epochs": 1, "limit_train_batches": 3, "limit_val_batches": 2, "accelerator": "cpu"}


def _overlapping_instances(ki) -> str:
    """Two instances over the same hours, each cut into slices by gaps (rows missing)."""
    rng = np.random.default_rng(0)
    frames = []
    for k, gaps in enumerate(([90, 91, 250], [40, 160, 161, 162, 300])):
        time = pd.date_range("2024-01-01", periods=400, freq="h")
        x = np.sin(np.arange(400) / 5 + k) + 0.1 * rng.standard_normal(400)
        frame = pd.DataFrame({"time": time, "unit": f"u{k}", "x1": x, "y1": np.roll(x, 2)})
        frames.append(frame.drop(index=gaps))
    ki.import_dataset({"data_import": {"raw_data": pd.concat(frames, ignore_index=True),
                                       "meta": {"name": "two", "time_column": "time", "instance_column": "unit", "targets": ["y1"]}}})
    return "two"


def _read_rows(data, spec, points: np.ndarray) -> set[int]:
    from knowit.data.windows import touched_rows

    first, last = touched_rows(points.astype(np.int64), data.slices, spec.lo, spec.hi)
    return set(np.concatenate([np.arange(a, b + 1) for a, b in zip(first, last)]).tolist()) if len(points) else set()


@pytest.mark.parametrize("mode", ["expanding", "sliding"])
@pytest.mark.parametrize("padding", [None, "zeros"])
def test_no_fold_trains_on_a_row_its_test_windows_read(ki, mode, padding) -> None:
    from knowit.comparison.backtest import fold_layout
    from knowit.data.store import DatasetStore
    from knowit.data.windows import WindowSpec, point_ranges

    data = DatasetStore(ki.exp_dir).load_series(_overlapping_instances(ki))
    assert len(data.instances) == 2 and len(data.slices) >= 6
    spec = WindowSpec((-5, 0), (1, 3), padded=padding == "zeros")
    folds = fold_layout(data, *point_ranges(data.slices, spec), spec, [0.6, 0.2, 0.2], 4, mode)
    assert len(folds) == 4
    tested: set[int] = set()
    for fold in folds:
        seen = _read_rows(data, spec, np.concatenate([fold.sets["train"], fold.sets["valid"]]))
        test_rows = _read_rows(data, spec, fold.sets["test"])
        assert len(fold.sets["train"]) and len(fold.sets["valid"]) and len(fold.sets["test"])
        assert not seen & test_rows
        # nothing later than the origin either, in any instance
        assert data.times[sorted(seen)].max() < fold.origin <= data.times[sorted(test_rows)].min()
        assert not tested & set(fold.sets["test"].tolist())  # each point is tested once
        tested |= set(fold.sets["test"].tolist())
        train_times = data.times[sorted(_read_rows(data, spec, fold.sets["train"]))]
        valid_times = data.times[sorted(_read_rows(data, spec, fold.sets["valid"]))]
        assert train_times.max() < valid_times.min()  # validation purged from training too
    if mode == "sliding":
        spans = [data.times[f.sets["train"]].max() - data.times[f.sets["train"]].min() for f in folds]
        assert max(spans) - min(spans) <= 3 * data.time_delta + (spans[0] * 0.3)


def test_refit_backtest_trains_each_fold_on_its_points_and_reports_scipy_intervals(ki) -> None:
    from scipy import stats as sps

    name = _overlapping_instances(ki)
    ki.train_model("m", {"data": {**DATA, "name": name}, "arch": {"name": TINY_ARCH}, "trainer": TRAINER})
    result = ki.backtest("m", 3, mode="expanding", refit=True)
    table = result.folds
    assert list(table["fold"]) == [0, 1, 2] and (table["n_train"].diff().dropna() > 0).all()  # expanding
    for f, row in table.iterrows():
        summary = json.loads((result.folder / f"fold-{f}" / "summary.json").read_text())
        assert summary["data"]["n_points"]["train"] == row["n_train"]
        assert summary["data"]["n_points"]["test"] == row["n_test"]
    values = table["mae"].to_numpy()
    low, high = sps.t.interval(0.95, 2, loc=values.mean(), scale=sps.sem(values))
    assert result.aggregate["mae"]["ci_low"] == pytest.approx(low, rel=1e-9) and result.aggregate["mae"]["ci_high"] == pytest.approx(high, rel=1e-9)
    assert (result.folder / "folds.csv").is_file() and (result.folder / "mae_per_fold.png").stat().st_size > 1000
    saved = json.loads((result.folder / "backtest.json").read_text())
    assert saved["aggregate"]["mae"]["mean"] == pytest.approx(values.mean())


def test_backtest_of_the_trained_model_scores_each_fold_like_compare_would(ki, exp_dir, capsys) -> None:
    from knowit.cli import main
    from knowit.comparison.backtest import fold_layout
    from knowit.data.windows import point_ranges
    from knowit.results.load import load_run
    from knowit.results.predictions import predict_set, run_data

    ki.train_model("m", {"data": DATA, "arch": {"name": TINY_ARCH}, "trainer": TRAINER})
    assert main(["backtest", "m", "--folds", "2", "--exp-dir", str(exp_dir)]) == 0
    out = capsys.readouterr().out
    assert "backtest: 2 folds, expanding window, the trained model" in out and "mae: mean" in out
    table = pd.read_csv(exp_dir / "models" / "m" / "backtests" / "expanding-2folds" / "folds.csv")
    run = load_run(exp_dir / "models" / "m")
    dm = run_data(run)
    p = dm.prepared
    folds = fold_layout(p.data, *point_ranges(p.data.slices, p.spec), p.spec, [0.6, 0.2, 0.2], 2, "expanding")
    dm.prepared.sets = {**p.sets, "test": folds[1].sets["test"]}
    _, outputs, targets = predict_set(run.module, dm, "test")
    expected = np.abs(p.descale_outputs(outputs) - p.descale_outputs(targets)).mean()
    assert table.loc[1, "mae"] == pytest.approx(expected, rel=1e-6)
    # a model trained on a random split saw the test region: only a refit backtest is honest
    ki.train_model("r", {"data": {**DATA, "split_method": "random"}, "arch": {"name": TINY_ARCH}, "trainer": TRAINER})
    assert main(["backtest", "r", "--exp-dir", str(exp_dir)]) == 2
    assert "refit: the model was trained on a random split" in capsys.readouterr().err
    ki.train_model("arrays", {"data": {"name": "synth_field"}, "arch": {"name": TINY_ARCH}, "trainer": TRAINER})
    assert main(["backtest", "arrays", "--refit", "--exp-dir", str(exp_dir)]) == 2
    assert "data.name: a backtest needs a time series; 'synth_field' is an array dataset" in capsys.readouterr().err


def test_backtest_serves_a_stateful_model_its_folds_as_contiguous_streams(ki) -> None:
    ki.train_model("s", {"data": {**DATA, "batch_sampling": "contiguous", "batch_size": 8},
                         "arch": {"name": "lstm", "width": 4, "internal_state": {"tracking": True}}, "trainer": TRAINER})
    result = ki.backtest("s", 2)
    assert list(result.folds["fold"]) == [0, 1] and (result.folds["n_test"] > 0).all()
    assert np.isfinite(result.folds["mae"]).all() and "skill_mae_vs_persistence" in result.aggregate
