"""sweep.objective=backtest: sweep jobs ranked by a rolling-origin backtest before the test set."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import TINY_ARCH, TINY_OVERRIDES, TINY_TRAINER, run_cli, tree_digest
from test_backtest import _overlapping_instances, _read_rows

OBJECTIVE = ["sweep.objective=backtest", "sweep.backtest.folds=2", "optimized_metric=backtest_mae"]
DATA = {"in_chunk": [-5, 0], "out_chunk": [1, 2]}


@pytest.mark.parametrize("mode", ["expanding", "sliding"])
def test_selection_folds_never_read_a_row_of_the_test_set(ki, mode) -> None:
    from knowit.comparison.backtest import selection_layout
    from knowit.data.splitting import split_points
    from knowit.data.store import DatasetStore
    from knowit.data.windows import WindowSpec, point_ranges

    data = DatasetStore(ki.exp_dir).load_series(_overlapping_instances(ki))
    spec = WindowSpec((-5, 0), (1, 3))
    portions = [0.5, 0.25, 0.25]
    first, counts = point_ranges(data.slices, spec)
    test_rows = _read_rows(data, spec, split_points(data, first, counts, spec, "chronological", portions, 0)["test"])
    folds = selection_layout(data, first, counts, spec, portions, 3, mode)
    assert len(folds) == 3
    for fold in folds:
        read = _read_rows(data, spec, np.concatenate([fold.sets[s] for s in ("train", "valid", "test")]))
        assert all(len(fold.sets[s]) for s in ("train", "valid", "test"))
        assert not read & test_rows  # no fold reads a row any test window reads ...
        assert data.times[sorted(read)].max() < data.times[sorted(test_rows)].min()  # ... nor anything after it, in any instance
        seen = _read_rows(data, spec, np.concatenate([fold.sets["train"], fold.sets["valid"]]))
        assert data.times[sorted(seen)].max() < fold.origin <= data.times[fold.sets["test"]].min()  # the backtest's purge
    # the folds' test shares cover the last valid/(train+valid) of the points before the test set
    tested = np.concatenate([f.sets["test"] for f in folds])
    assert len(set(tested.tolist())) == len(tested)


def _fold_means(job_dir: Path) -> tuple[pd.DataFrame, dict]:
    folder = job_dir / "backtests" / "selection-expanding-2folds"
    return pd.read_csv(folder / "folds.csv"), json.loads((folder / "backtest.json").read_text())


def test_grid_sweep_ranks_jobs_by_the_backtest_mean_and_writes_its_interval(ki) -> None:
    from scipy import stats as sps

    from knowit.comparison.backtest import selection_layout
    from knowit.data.store import DatasetStore
    from knowit.data.windows import WindowSpec, point_ranges

    kwargs = {"data": DATA, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER}
    summary = ki.sweep("bt", kwargs, {"trainer.learning_rate": [0.03, 0.0001]}, overrides=OBJECTIVE)
    assert summary.metric == "backtest_mae" and summary.direction == "minimize"
    assert [j["status"] for j in summary.jobs] == ["completed", "completed"]
    data = DatasetStore(ki.exp_dir).load_series("synth_regression")
    spec = WindowSpec((-5, 0), (1, 2))
    expected = selection_layout(data, *point_ranges(data.slices, spec), spec, [0.6, 0.2, 0.2], 2, "expanding")
    values = []
    for job in summary.jobs:
        folds, record = _fold_means(Path(job["run_dir"]))
        # the fold runs trained on the points the selection layout gives: before the test set
        assert list(folds["n_train"]) == [len(f.sets["train"]) for f in expected]
        assert list(folds["n_test"]) == [len(f.sets["test"]) for f in expected]
        assert record["region"] == "before the test set" and record["refit"] is True
        mean = folds["mae"].mean()
        assert job["value"] == pytest.approx(mean, rel=1e-12)
        run_summary = json.loads((Path(job["run_dir"]) / "summary.json").read_text())
        assert run_summary["metrics"]["backtest_mae"] == pytest.approx(mean, rel=1e-12)
        low, high = sps.t.interval(0.95, 1, loc=mean, scale=sps.sem(folds["mae"]))
        assert run_summary["metrics_interval"]["backtest_mae"] == pytest.approx([low, high], rel=1e-9)
        assert "test_mae" in run_summary["metrics"]  # the job's own run is still tested, for the record
        values.append(mean)
    assert values == sorted(values)  # ranked by the backtest aggregate, not by valid_loss
    table = summary.table()
    assert {"backtest_mae_std", "backtest_mae_ci_low", "backtest_mae_ci_high", "tied_with_best", "backtest_folds"} <= set(table.columns)
    assert "backtest_mae is the mean over backtest folds before the test set" in summary.format()


def test_optuna_receives_the_mean_over_folds_as_the_objective(tmp_path: Path, exp_dir: Path) -> None:
    # A real process: Hydra's sweep sets up logging for the whole process, which in pytest's own
    # process broke output capture for every later test of that process.
    out = run_cli(["train", "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=1",
                    f"arch.name={TINY_ARCH}", *TINY_OVERRIDES, "data.in_chunk=[-5,0]", "data.out_chunk=[1,2]",
                    "trainer.learning_rate=choice(0.03,0.0001)", *OBJECTIVE, "model_name=opt"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0, out.stderr
    sweep = exp_dir / "sweeps" / "opt"
    written = sorted(_fold_means(p)[0]["mae"].mean() for p in sweep.iterdir() if p.name.isdigit())
    lines = [line for line in out.stdout.splitlines() if line.startswith("sweep job ")]
    assert len(written) == 1 and len(lines) == 1 and "completed  backtest_mae " in lines[0], out.stdout
    # what Optuna was handed: the trial's value is the mean over folds (valid_loss would differ)
    assert yaml.safe_load((sweep / "optimization_results.yaml").read_text())["best_value"] == pytest.approx(written[0], rel=1e-9)


@pytest.mark.parametrize(("overrides", "line"), [
    (["sweep.backtest.folds=1", "sweep.objective=backtest", "optimized_metric=backtest_mae"],
     "sweep.backtest.folds: 1 is out of range; it must be >= 2"),
    (["sweep.backtest.mode=diagonal"], "sweep.backtest.mode: "),
    (["sweep.objective=test_set"], "sweep.objective: "),
    (["sweep.objective=backtest"], "optimized_metric: 'valid_loss_scaled' is not what sweep.objective=backtest returns; choose one of: backtest_mae"),
    (["optimized_metric=backtest_mae"], "optimized_metric: 'backtest_mae' is a backtest score; set sweep.objective=backtest"),
    ([*OBJECTIVE, "data.split_method=random"], "sweep.objective: backtest selects over the time before the test set, which needs data.split_method=chronological"),
    ([*OBJECTIVE, "repeats=2"], "sweep.objective: backtest ranks a job by its interval over folds; it runs with repeats=1"),
])
def test_bad_objective_settings_are_one_line_naming_the_key(cli_main, tmp_path: Path, exp_dir: Path, overrides: list[str], line: str) -> None:
    before = tree_digest(exp_dir)
    out = cli_main(["train", "-m", f"arch.name={TINY_ARCH}", "trainer.learning_rate=0.01,0.001", *overrides, "model_name=bad"],
                   cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip()] and out.stderr.startswith(f"knowit: error: {line}"), out.stderr
    assert tree_digest(exp_dir) == before
