"""repeats=N: seeds derived from seed, exact reproduction, t-intervals, ties in sweep rankings."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import TINY_ARCH

DATA = {"in_chunk": [-7, 0], "out_chunk": [1, 2], "in_components": ["x1", "x2", "y1"]}
TRAINER = {"max_epochs": 1, "limit_train_batches": 3, "limit_val_batches": 2, "limit_test_batches": 2, "accelerator": "cpu"}
KWARGS = {"data": DATA, "arch": {"name": TINY_ARCH}, "trainer": TRAINER}
SEED = ["seed=7"]


def _rep_metrics(run_dir) -> list[dict]:
    return [json.loads((p / "summary.json").read_text())["metrics"] for p in sorted(run_dir.glob("rep-*"))]


def test_repeats_reproduce_exactly_and_report_scipy_t_intervals(ki) -> None:
    from scipy import stats as sps

    from knowit.comparison.repeats import repeat_seeds

    first = ki.train_model("r1", KWARGS, overrides=SEED, repeats=3)
    again = ki.train_model("r2", KWARGS, overrides=SEED, repeats=3)
    plain = ki.train_model("p", KWARGS, overrides=SEED)  # repeats=1: today's layout, and rep-0's seed
    reps = _rep_metrics(first.run_dir)
    assert len(reps) == 3 and reps == _rep_metrics(again.run_dir)  # the same seeds: identical numbers
    assert reps[0] == plain.metrics and len({r["test_mae"] for r in reps}) == 3  # rep-0 = seed; others differ
    assert not list(plain.run_dir.glob("rep-*")) and "repeats" not in json.loads((plain.run_dir / "summary.json").read_text())
    summary = json.loads((first.run_dir / "summary.json").read_text())
    assert summary["seeds"] == repeat_seeds(7, 3) and summary["seeds"][0] == 7 and summary["status"] == "completed"
    values = np.array([r["test_mae"] for r in reps])
    low, high = sps.t.interval(0.95, 2, loc=values.mean(), scale=sps.sem(values))
    assert summary["metrics"]["test_mae"] == pytest.approx(values.mean(), rel=1e-12)
    assert summary["metrics_std"]["test_mae"] == pytest.approx(values.std(ddof=1), rel=1e-12)
    assert summary["metrics_interval"]["test_mae"] == pytest.approx([low, high], rel=1e-9)
    assert first.intervals["test_mae"]["ci_low"] == pytest.approx(low, rel=1e-9)
    assert "r1" in ki.available_models()


def test_sweep_ranks_by_mean_and_marks_overlapping_intervals_tied(ki) -> None:
    summary = ki.sweep("s", KWARGS, grid={"trainer.learning_rate": [1e-3, 0.3]}, overrides=SEED, repeats=2)
    table = summary.table()
    assert {"repeats", "valid_loss_scaled_std", "valid_loss_scaled_ci_low", "valid_loss_scaled_ci_high", "tied_with_best"} <= set(table.columns)
    means = []
    for job in summary.jobs:
        reps = _rep_metrics(summary.sweep_dir / str(job["job"]))
        assert len(reps) == 2
        means.append(np.mean([r["valid_loss_scaled"] for r in reps]))
        assert job["value"] == pytest.approx(means[-1], rel=1e-12)
    assert means == sorted(means)  # ranked by the mean
    best, other = summary.jobs
    overlap = other["interval"]["valid_loss_scaled"][0] <= best["interval"]["valid_loss_scaled"][1]
    assert best["tied_with_best"] is True and other["tied_with_best"] is overlap
    assert "= marks jobs tied with the best" in summary.format()


def test_cli_repeats_print_intervals_and_resume_of_a_repeated_run_is_refused(ki, exp_dir, capsys) -> None:
    from knowit.cli import main

    args = ["train", f"exp_dir={exp_dir}", "model_name=c", "repeats=2", "seed=7", f"arch.name={TINY_ARCH}",
            "data.in_chunk=[-7,0]", "data.out_chunk=[1,2]", "data.in_components=[x1,x2,y1]",
            *[f"trainer.{k}={v}" for k, v in TRAINER.items()]]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "over 2 repeats: mean ± std  [95 % t-interval]" in out and (exp_dir / "models" / "c" / "rep-1" / "summary.json").is_file()
    # the final lines carry the naive baselines and the skill, the repeats' mean as in summary.json
    top = json.loads((exp_dir / "models" / "c" / "summary.json").read_text())["baselines"]
    assert f"baselines on {top['n_points']} test points (mae, original units" in out
    assert f"  persistence{' ' * 19}{top['naive']['persistence']['mae']:.6g}   skill {top['skill']['persistence']['mae']:+.3f}" in out
    assert main([*args, "trainer.resume=c"]) == 2
    assert "trainer.resume: a run with repeats=2 is resumed one repeat at a time" in capsys.readouterr().err


def test_compare_takes_a_repeated_model_as_the_mean_over_its_repeats(ki) -> None:
    import pandas as pd

    from knowit.comparison.stats import diebold_mariano

    ki.train_model("rep", KWARGS, overrides=SEED, repeats=2)
    ki.train_model("one", KWARGS, overrides=["seed=8"])
    result = ki.compare(["rep", "one"], "valid")

    def losses(path):
        frame = pd.read_parquet(path / "predictions" / "valid.parquet").sort_values(["instance", "slice", "time"], kind="stable")
        err = (frame["prediction"] - frame["target"]) ** 2
        return err.groupby([frame["instance"], frame["slice"], frame["time"]], sort=True).mean().to_numpy(), (frame["prediction"] - frame["target"]).abs().mean()

    reps = [losses(ki.exp_dir / "models" / "rep" / f"rep-{k}") for k in (0, 1)]
    single, single_mae = losses(ki.exp_dir / "models" / "one")
    board = result.leaderboard.set_index("model")
    assert board.loc["rep", "repeats"] == 2 and board.loc["one", "repeats"] == 1
    assert board.loc["rep", "mae"] == pytest.approx(np.mean([r[1] for r in reps]), rel=1e-9)
    assert board.loc["one", "mae"] == pytest.approx(single_mae, rel=1e-9)
    expected = diebold_mariano((reps[0][0] + reps[1][0]) / 2, single, horizon=2)
    assert result.tests[0]["statistic"] == pytest.approx(expected.statistic, rel=1e-9)
