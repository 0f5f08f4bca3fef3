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
    assert set(metrics) == {"test_loss", "test_mae"}
    for k, v in metrics.items():
        assert v == pytest.approx(regression.metrics[k], rel=1e-5, abs=1e-7)
    frame = ki.generate_predictions("reg", {"predictor": {"prediction_set": "test", "rescale_outputs": False}})
    assert np.mean((frame["prediction"] - frame["target"]) ** 2) == pytest.approx(metrics["test_loss"], rel=1e-4)


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
    with pytest.raises(KnowItConfigError, match="predictor.prediction_set: 'tset' is not a set; choose one of: train, valid, test"):
        ki.generate_predictions("reg", {"predictor": {"prediction_set": "tset"}})
    with pytest.raises(KnowItConfigError, match="predictor.rescale: unknown key"):
        ki.generate_predictions("reg", {"predictor": {"rescale": True}})
    with pytest.raises(KnowItRunError, match="model_name: no trained model 'nope'"):
        ki.evaluate("nope")
