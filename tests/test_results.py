"""Predictions and evaluation of trained runs: tidy tables in original units, saved as parquet."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from knowit import KnowItConfigError, KnowItRunError
from tests.conftest import TINY_TRAINER

TRAINER = {**TINY_TRAINER, "limit_val_batches": 1.0, "limit_test_batches": 1.0}


@pytest.fixture
def regression(ki):
    data = {"in_components": ["x1", "x2"], "out_components": ["y1"], "in_chunk": [-5, 0], "out_chunk": [1, 2]}
    return ki.train_model("reg", {"data": data, "arch": {"name": "lstm", "width": 8}, "trainer": TRAINER})


def test_regression_predictions_are_tidy_in_original_units_and_saved(ki, regression):
    frame = ki.generate_predictions("reg", {"predictor": {"prediction_set": "test", "rescale_outputs": True}})
    assert list(frame.columns) == ["instance", "slice", "time", "step", "component", "target", "prediction"]
    assert set(frame["step"]) == {1, 2} and set(frame["component"]) == {"y1"}
    saved = pd.read_parquet(regression.run_dir / "predictions" / "test.parquet")
    pd.testing.assert_frame_equal(saved, frame)
    # targets in original units: the stored y1 at time + step of the same instance
    from knowit.data.store import DatasetStore

    data = DatasetStore(ki.exp_dir).load_series("synth_regression")
    lookup = {(data.instances[data.slices[s, 0]], t): v for s in range(len(data.slices))
              for t, v in zip(data.times[data.slices[s, 1]:data.slices[s, 1] + data.slices[s, 2]],
                              data.values[data.slices[s, 1]:data.slices[s, 1] + data.slices[s, 2], data.components.index("y1")])}
    sample = frame.sample(20, random_state=0)
    for _, row in sample.iterrows():
        assert row["target"] == pytest.approx(lookup[(row["instance"], float(pd.Timestamp(row["time"]).value) + row["step"] * data.time_delta)], rel=1e-4, abs=1e-4)
    scaled = ki.generate_predictions("reg", {"predictor": {"prediction_set": "test", "rescale_outputs": False}})
    assert abs(scaled["target"].mean()) < abs(frame["target"].mean()) or scaled["target"].std() != pytest.approx(frame["target"].std())


def test_evaluate_reproduces_the_run_metrics(ki, regression):
    metrics = ki.evaluate("reg", "test")
    assert set(metrics) == {"test_loss_scaled", "test_mae"}
    for k, v in metrics.items():
        assert v == pytest.approx(regression.metrics[k], rel=1e-5, abs=1e-7)
    frame = ki.generate_predictions("reg", {"predictor": {"prediction_set": "test", "rescale_outputs": False}})
    assert np.mean((frame["prediction"] - frame["target"]) ** 2) == pytest.approx(metrics["test_loss_scaled"], rel=1e-4)


def test_classification_predictions_with_probabilities(ki):
    ki.train_model("cls", {"data": {"name": "synth_classification"}, "arch": {"name": "lstm", "width": 8}, "trainer": TRAINER})
    frame = ki.generate_predictions("cls", {"predictor": {"prediction_set": "valid"}})
    probs = frame[[c for c in frame.columns if c.startswith("prob_")]]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    names = [c[len("prob_"):] for c in probs.columns]
    assert (frame["prediction"] == np.asarray(names, dtype=object)[probs.to_numpy().argmax(1)]).all()
    accuracy = (frame["prediction"] == frame["target"]).mean()
    assert accuracy == pytest.approx(ki.evaluate("cls", "valid")["valid_accuracy"], abs=1e-6)


def test_bad_prediction_requests(ki, regression):
    with pytest.raises(KnowItConfigError, match=r"predictor.prediction_set: 'tset' is not a valid choice \(did you mean 'test'\?\); choose one of: train, valid, test"):
        ki.generate_predictions("reg", {"predictor": {"prediction_set": "tset"}})
    with pytest.raises(KnowItConfigError, match="predictor.rescale: unknown key"):
        ki.generate_predictions("reg", {"predictor": {"rescale": True}})
    with pytest.raises(KnowItRunError, match="model_name: no trained model 'nope'"):
        ki.evaluate("nope")


# -- summary, plots, new data, CLI -------------------------------------------------------------
import json

from knowit.results import report
from tests.conftest import run_cli


def test_classification_summary_plots_and_report_match_the_predictions(ki):
    result = ki.train_model("cls", {"data": {"name": "synth_classification"}, "arch": {"name": "lstm", "width": 8}, "trainer": TRAINER}, and_viz=True)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    frame = ki.generate_predictions("cls", {"predictor": {"prediction_set": "test"}})
    cm = summary["evaluation"]["confusion_matrix"]
    matrix = np.asarray(cm["matrix"])
    assert summary["evaluation"]["set"] == "test" and matrix.sum() == len(frame) == summary["data"]["n_points"]["test"]
    for i, true in enumerate(cm["classes"]):  # rows = true, columns = predicted
        for j, pred in enumerate(cm["classes"]):
            assert matrix[i, j] == ((frame["target"] == true) & (frame["prediction"] == pred)).sum()
    assert np.trace(matrix) / matrix.sum() == pytest.approx(result.metrics["test_accuracy"], abs=1e-6)
    viz = result.run_dir / "visualizations"
    for name in ("learning_curves.png", "confusion_matrix_test.png", "classification_report_test.png"):
        assert (viz / name).stat().st_size > 5000
    assert json.loads((viz / "confusion_matrix_test.json").read_text()) == cm
    # the min_probability threshold withholds the unsure predictions and reports on the rest
    strict = report.classification_report(frame, min_probability=0.9)
    probs = frame[[c for c in frame.columns if c.startswith("prob_")]].max(axis=1)
    assert strict["covered"] == (probs >= 0.9).sum() and strict["withheld"] == (probs < 0.9).sum()
    paths = ki.visualize("cls", "valid", min_probability=0.6)
    rep = json.loads((viz / "classification_report_valid.json").read_text())
    assert rep["min_probability"] == 0.6 and any(p.name == "confusion_matrix_valid.png" for p in paths)
    for c, row in rep["classes"].items():
        assert 0 <= row["precision"] <= 1 and row["support"] >= 0


def test_regression_summary_r2_and_plots(ki):
    data = {"in_components": ["x1", "x2"], "out_components": ["y1"], "in_chunk": [-5, 0], "out_chunk": [1, 3]}
    result = ki.train_model("fc", {"data": data, "arch": {"name": "lstm", "width": 8}, "trainer": TRAINER}, and_viz=True)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    frame = ki.generate_predictions("fc", {"predictor": {"prediction_set": "test"}})
    t, p = frame["target"].to_numpy(), frame["prediction"].to_numpy()
    assert summary["evaluation"]["r2"]["y1"] == pytest.approx(1 - ((t - p) ** 2).sum() / ((t - t.mean()) ** 2).sum(), rel=1e-5)
    for name in ("predicted_vs_true_test.png", "series_test.png", "forecasts_test.png"):
        assert (result.run_dir / "visualizations" / name).stat().st_size > 5000


def test_load_restores_everything_and_predicts_new_data(ki, regression):
    loaded = ki.load(regression.run_dir)
    assert loaded.config["data"]["in_components"] == ["x1", "x2"] and loaded.scalers["inputs"]["components"] == ["x1", "x2"]
    assert len(loaded.history) == 1 and loaded.summary["status"] == "completed"
    from knowit.data.store import DatasetStore

    data = DatasetStore(ki.exp_dir).load_series("synth_regression")
    first = data.slices[0]
    raw = pd.DataFrame(data.values[first[1]:first[1] + 40], columns=data.components)
    out = loaded.predict(raw)  # a DataFrame in original units, one row per full window
    assert list(out.columns) == ["y1@+1", "y1@+2"] and len(out) == 40 - 5 and out.index[0] == 5
    # the same windows by hand as arrays: scaled with the saved scaler, de-scaled after
    windows = np.stack([raw[["x1", "x2"]].to_numpy(np.float32)[t - 5:t + 1] for t in range(5, 40)])
    arrays = loaded.predict(windows)
    np.testing.assert_allclose(arrays[:, :, 0], out.to_numpy(), rtol=1e-5)
    scaled = loaded.predict(windows, descale_result=False)
    assert not np.allclose(scaled, arrays)
    unscaled_in = loaded.predict(windows, apply_scaler=False)
    assert not np.allclose(unscaled_in, arrays)
    from knowit import KnowItDataError

    with pytest.raises(KnowItDataError, match="new_data: column 'x2' is missing"):
        loaded.predict(raw[["x1"]])
    with pytest.raises(KnowItDataError, match=r"new_data: expected arrays shaped \(N, 6, 2\)"):
        loaded.predict(windows[:, :3])


def test_cli_predict_evaluate_viz(cli_main, tmp_path, exp_dir, ki, regression):
    ev = run_cli(["evaluate", "reg", "--set", "test"], cwd=tmp_path, exp_dir=exp_dir)  # one real process
    assert ev.returncode == 0, ev.stderr
    assert f"{regression.metrics['test_loss_scaled']:.6g}" in ev.stdout
    saved = regression.run_dir / "predictions" / "test.parquet"
    saved.unlink()  # training wrote it (the shown set): the command must write it again
    pr = cli_main(["predict", "reg", "--set", "test"], cwd=tmp_path, exp_dir=exp_dir)
    assert pr.returncode == 0 and saved.is_file()
    vz = cli_main(["viz", "reg", "--set", "valid"], cwd=tmp_path, exp_dir=exp_dir)
    assert vz.returncode == 0 and "predicted_vs_true_valid.png" in vz.stdout
    bad = cli_main(["evaluate", "reg", "--set", "tset"], cwd=tmp_path, exp_dir=exp_dir)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == ["knowit: error: set: 'tset' is not a set; choose one of: train, valid, test"]
