"""``knowit compare``: leaderboard and paired tests on the same points, refusals that say what differs."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_ARCH

DATA = {"in_chunk": [-7, 0], "out_chunk": [1, 3], "in_components": ["x1", "x2", "y1"], "out_components": ["y1"]}
TRAINER = {"max_epochs": 1, "limit_train_batches": 4, "limit_val_batches": 2, "accelerator": "cpu"}


def _train(ki, name: str, data: dict = DATA, epochs: int = 1, arch: dict | None = None) -> None:
    ki.train_model(name, {"data": data, "arch": arch or {"name": TINY_ARCH}, "trainer": {**TRAINER, "max_epochs": epochs}})


def _point_losses(path) -> np.ndarray:
    frame = pd.read_parquet(path).sort_values(["instance", "slice", "time"], kind="stable")
    sq = (frame["prediction"] - frame["target"]) ** 2
    return sq.groupby([frame["instance"], frame["slice"], frame["time"]], sort=True).mean().to_numpy()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two regression runs of one experiment directory, trained once for this module."""
    from knowit import KnowIt

    ki = KnowIt(tmp_path_factory.mktemp("compare") / "exp")
    _train(ki, "a")
    _train(ki, "b", epochs=3)
    return ki


def test_regression_leaderboard_and_diebold_mariano_on_the_saved_predictions(pair) -> None:
    from knowit.comparison.stats import diebold_mariano

    ki, exp_dir = pair, pair.exp_dir
    result = ki.compare(["a", "b"], "test")
    la = _point_losses(exp_dir / "models" / "a" / "predictions" / "test.parquet")
    lb = _point_losses(exp_dir / "models" / "b" / "predictions" / "test.parquet")
    board = result.leaderboard.set_index("model")
    assert board.loc["a", "mse"] == pytest.approx(la.mean(), rel=1e-9)
    assert board.loc["b", "mse"] == pytest.approx(lb.mean(), rel=1e-9)
    assert list(result.leaderboard["model"]) == sorted(["a", "b"], key=lambda m: board.loc[m, "mae"])
    (test,) = result.tests
    # out_chunk [1, 3] from the window's end at 0: 3-step forecasts, HAC lag 2
    expected = diebold_mariano(la, lb, horizon=3)
    assert test["hac_lag"] == 2
    assert test["statistic"] == pytest.approx(expected.statistic, rel=1e-9)
    assert test["p_holm"] == pytest.approx(expected.p_value)  # one pair: Holm changes nothing
    summary = json.loads((exp_dir / "models" / "a" / "summary.json").read_text())
    naive_mae = summary["baselines"]["naive"]["persistence"]["mae"]  # same points: the same naive score
    assert result.baselines["scores"]["persistence"]["mae"] == pytest.approx(naive_mae, rel=1e-6)
    assert board.loc["a", "skill_mae_vs_persistence"] == pytest.approx(1 - board.loc["a", "mae"] / naive_mae, rel=1e-6)
    saved = json.loads((result.folder / "comparison.json").read_text())
    assert saved["tests"][0]["statistic"] == test["statistic"]
    assert (result.folder / "leaderboard.csv").is_file() and (result.folder / "error_differences.png").stat().st_size > 1000


def test_runs_on_different_points_or_targets_are_refused_with_what_differs(pair) -> None:
    from knowit.errors import KnowItRunError

    ki = pair
    before = sorted(p.name for p in (ki.exp_dir / "comparisons").iterdir()) if (ki.exp_dir / "comparisons").exists() else []
    _train(ki, "short", data={**DATA, "in_chunk": [-3, 0]})
    _train(ki, "other_target", data={**DATA, "out_components": ["x1"]})
    with pytest.raises(KnowItRunError, match=r"not scored on the same test points: 0 only in 'a', \d+ only in 'short' \(data.in_chunk \[-7, 0\] vs \[-3, 0\]\)"):
        ki.compare(["a", "short"])
    with pytest.raises(KnowItRunError, match=r"differ in data.out_components \(\['y1'\] vs \['x1'\]\)"):
        ki.compare(["a", "other_target"])
    # as if b had been trained on another version of the dataset (runs record its content hash)
    paths = [ki.exp_dir / "models" / m / "summary.json" for m in ("a", "b")]
    saved = [p.read_text() for p in paths]
    try:
        for path, text, digest in zip(paths, saved, ("a" * 64, "b" * 64)):
            path.write_text(json.dumps({**json.loads(text), "data_hash": digest}))
        with pytest.raises(KnowItRunError, match=r"'a' and 'b' were trained on different data \(fingerprints a+ and b+\)"):
            ki.compare(["a", "b"])
    finally:
        for path, text in zip(paths, saved):
            path.write_text(text)
    after = sorted(p.name for p in (ki.exp_dir / "comparisons").iterdir()) if (ki.exp_dir / "comparisons").exists() else []
    assert after == before  # nothing written for a refused comparison


def test_classifiers_are_paired_by_mcnemar_on_the_same_points(ki, exp_dir) -> None:
    from knowit.comparison.stats import mcnemar

    data = {"name": "synth_classification", "task": "classification", "in_chunk": [-4, 0]}
    _train(ki, "c1", data=data)
    _train(ki, "c2", data=data, epochs=2)
    result = ki.compare(["c1", "c2"], "valid")
    frames = [pd.read_parquet(exp_dir / "models" / m / "predictions" / "valid.parquet") for m in ("c1", "c2")]
    right = [(f["prediction"] == f["target"]).to_numpy() for f in frames]
    (test,) = result.tests
    assert test["test"] == "mcnemar"
    assert test["only_a_correct"] == int((right[0] & ~right[1]).sum())
    assert test["p_value"] == pytest.approx(mcnemar(right[0], right[1]).p_value)
    assert result.leaderboard.set_index("model").loc["c1", "accuracy"] == pytest.approx(right[0].mean())
    assert "majority_class" in result.baselines["scores"]


def test_cli_compare_prints_the_leaderboard_and_refuses_one_model(pair, tmp_path, capsys, cli_main) -> None:
    from knowit.cli import main

    exp_dir = pair.exp_dir
    assert main(["compare", "a", "--exp-dir", str(exp_dir)]) == 2
    assert capsys.readouterr().err.strip() == "knowit: error: model_names: name at least two trained models to compare"
    done = cli_main(["compare", "a", "b", "--set", "test", "--loss", "absolute", "--arch", TINY_ARCH], cwd=tmp_path, exp_dir=exp_dir)
    assert done.returncode == 0, done.stderr
    assert "leaderboard on the test set" in done.stdout and "a vs b: statistic" in done.stdout


def test_three_models_get_every_pair_tested_and_holm_over_the_three(pair) -> None:
    from statsmodels.stats.multitest import multipletests

    from knowit.comparison.stats import diebold_mariano

    ki = pair
    _train(ki, "c", epochs=2)
    result = ki.compare(["a", "b", "c"], "test", name="abc")
    losses = {m: _point_losses(ki.exp_dir / "models" / m / "predictions" / "test.parquet") for m in ("a", "b", "c")}
    assert sorted((t["a"], t["b"]) for t in result.tests) == [("a", "b"), ("a", "c"), ("b", "c")]
    for t in result.tests:
        assert t["p_value"] == pytest.approx(diebold_mariano(losses[t["a"]], losses[t["b"]], horizon=3).p_value, rel=1e-9)
    expected = multipletests([t["p_value"] for t in result.tests], method="holm")[1]
    assert [t["p_holm"] for t in result.tests] == pytest.approx(list(expected), rel=1e-9)
    assert "p-values Holm-adjusted over 3 pairs" in result.format()
