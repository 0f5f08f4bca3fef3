"""Interpretation: Captum attributions for every method and architecture, saved and plotted."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from knowit import KnowIt
from knowit.errors import KnowItConfigError, KnowItRunError

from conftest import TINY_ARCH, TINY_TRAINER

METHODS = ("IntegratedGradients", "DeepLift", "DeepLiftShap")
LAG = 3


def _lag_dataset(ki: KnowIt, n: int = 3000) -> None:
    """y(t) = 2 * x1(t - 3): nothing else matters."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    y = np.zeros(n)
    y[LAG:] = 2.0 * x[:-LAG, 1]
    frame = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "y": y}, index=pd.RangeIndex(n, name="t"))
    ki.import_dataset({"data_import": {"raw_data": frame.iloc[LAG:], "meta": {"name": "lag3"}}})


LAG_DATA = {"name": "lag3", "task": "regression", "in_components": ["x0", "x1", "x2"], "out_components": ["y"],
            "in_chunk": [-5, 0], "out_chunk": [0, 0], "split_portions": [0.6, 0.2, 0.2], "batch_size": 32}


@pytest.fixture(scope="module")
def lag_lstm(tmp_path_factory):
    ki = KnowIt(tmp_path_factory.mktemp("interp") / "exp")
    _lag_dataset(ki)
    kwargs = {"data": LAG_DATA, "arch": {"name": "lstm", "width": 16, "dropout": 0.0},
              "trainer": {"max_epochs": 6, "learning_rate": 0.01, "accelerator": "cpu"}}
    result = ki.train_model("lag", kwargs)
    assert result.metrics["valid_loss_scaled"] < 0.05  # it learned the lag (scaled targets have variance ~1)
    return ki


@pytest.mark.parametrize("method", METHODS)
def test_attribution_peaks_at_the_component_and_lag_that_matter(lag_lstm: KnowIt, method: str) -> None:
    out = lag_lstm.interpret_model("lag", {"interpreter": {"interpretation_method": method, "size": 40, "seed": 1}})
    assert out.attributions.shape == (40, 1, 6, 3)  # points, outputs, in_chunk steps, components
    mean = np.abs(out.attributions).mean(axis=(0, 1))
    step, component = np.unravel_index(mean.argmax(), mean.shape)
    assert (step - 5, component) == (-LAG, 1), mean  # offset -3, component x1
    assert mean[step, component] > 5 * np.delete(mean.ravel(), mean.argmax()).max()
    saved = np.load(out.file, allow_pickle=False)  # nothing pickled
    assert np.array_equal(saved["attributions"], out.attributions) and np.array_equal(saved["points"], out.points)
    assert list(saved["in_components"]) == ["x0", "x1", "x2"] and list(saved["in_offsets"]) == [-5, -4, -3, -2, -1, 0]
    assert out.peak() == ("t-3, x1", pytest.approx(float(mean.max())))  # named, not an index
    assert len(repr(out)) < 300 and "at t-3, x1" in repr(out)  # a short repr, not the arrays
    assert {"instance", "slice", "time", "output", "target", "inputs", "baseline"} <= set(saved.files)
    assert str(saved["method"]) == method
    assert out.plots[0].name == f"{method}_valid_random_mean.png" and all(p.stat().st_size > 5000 for p in out.plots)
    assert len(out.plots) == 1 + 4


def test_integrated_gradients_completeness_with_the_mean_baseline(lag_lstm: KnowIt) -> None:
    """Global IG sums to f(x) - f(baseline); local attributions (multiply_by_inputs=False) do not."""
    run = KnowIt.load(lag_lstm.run_dir("lag"))
    out = lag_lstm.interpret_model("lag", {"interpreter": {"size": 10, "n_steps": 200}})
    saved = np.load(out.file)
    import torch

    with torch.no_grad():
        f_base = run.model(torch.as_tensor(saved["baseline"])[None]).item()
    sums = out.attributions.reshape(10, -1).sum(1)
    np.testing.assert_allclose(sums, saved["output"][:, 0] - f_base, atol=2e-2)
    local = lag_lstm.interpret_model("lag", {"interpreter": {"size": 10, "multiply_by_inputs": False}})
    assert not np.allclose(local.attributions.reshape(10, -1).sum(1), sums, atol=2e-2)


def test_selection_success_failure_all_and_seed(lag_lstm: KnowIt) -> None:
    good = lag_lstm.interpret_model("lag", {"interpreter": {"selection": "success", "size": 15}})
    bad = lag_lstm.interpret_model("lag", {"interpreter": {"selection": "failure", "size": 15}})
    assert not set(good.points) & set(bad.points)
    saved_good, saved_bad = np.load(good.file), np.load(bad.file)
    err = lambda s: np.abs(s["output"][:, 0] - s["target"].reshape(len(s["output"]), -1)[:, 0])  # noqa: E731
    assert err(saved_good).max() <= err(saved_bad).min() + 1e-6
    a = lag_lstm.interpret_model("lag", {"interpreter": {"size": 5, "seed": 7}})
    b = lag_lstm.interpret_model("lag", {"interpreter": {"size": 5, "seed": 7}})
    assert np.array_equal(a.points, b.points) and np.allclose(a.attributions, b.attributions)
    everything = lag_lstm.interpret_model("lag", {"interpreter": {"selection": "all", "interpretation_set": "test", "interpretation_method": "DeepLift"}})
    run = KnowIt.load(lag_lstm.run_dir("lag"))
    from knowit.results.predictions import run_data

    assert np.array_equal(np.sort(everything.points), np.sort(run_data(run).prepared.set_points("test")))


@pytest.mark.parametrize(
    ("interpreter", "match"),
    [({"interpretation_method": "Saliency"}, "interpreter.interpretation_method"),
     ({"selection": "best"}, "interpreter.selection"),
     ({"size": 0}, "interpreter.size"),
     ({"sise": 10}, "interpreter.sise"),
     ({"outputs": [3]}, "interpreter.outputs"),
     ({"interpretation_set": "validation"}, "interpreter.interpretation_set")],
)
def test_bad_interpreter_settings_are_clear_errors(lag_lstm: KnowIt, interpreter: dict, match: str) -> None:
    with pytest.raises(KnowItConfigError, match=match):
        lag_lstm.interpret_model("lag", {"interpreter": interpreter})


def test_untrained_model_and_empty_selection(ki: KnowIt) -> None:
    with pytest.raises(KnowItRunError, match="no trained model 'nope'"):
        ki.interpret_model("nope", {})
    kwargs = {"data": {"name": "synth_classification"}, "arch": {"name": TINY_ARCH}, "trainer": dict(TINY_TRAINER, max_epochs=1, limit_train_batches=1)}
    ki.train_model("c", kwargs)
    # a barely trained classifier: ask for the failures of a set where a constant class is right
    out = ki.interpret_model("c", {"interpreter": {"interpretation_method": "DeepLift", "size": 8}})
    assert out.attributions.shape[1] == 1 and out.explained_outputs.shape == (8, 1)  # the predicted class
    saved = np.load(out.file)
    assert np.array_equal(saved["explained_output"][:, 0], saved["output"].argmax(1))


def test_empty_selection_is_a_clear_error(lag_lstm: KnowIt, monkeypatch) -> None:
    import knowit.interpret.run as run_module

    monkeypatch.setattr(run_module, "_successes", lambda outputs, targets, task: np.ones(len(outputs), dtype=bool))
    with pytest.raises(KnowItRunError, match="interpreter.selection: no 'failure' points in the valid set"):
        lag_lstm.interpret_model("lag", {"interpreter": {"selection": "failure"}})


def test_missing_captum_is_a_clear_error(lag_lstm: KnowIt, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "captum" else real(name, *a))
    with pytest.raises(KnowItRunError, match=r"captum is not installed; install it with: pip install 'knowit\[interpret\]'"):
        lag_lstm.interpret_model("lag", {})


def _tiny(ki: KnowIt, name: str, data: str, arch: dict, **trainer) -> None:
    ki.train_model(name, {"data": {"name": data}, "arch": arch, "trainer": {**TINY_TRAINER, **trainer}})


@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_cnn_lstm_and_convlstm1d(ki: KnowIt, method: str) -> None:
    _tiny(ki, "cnn", "synth_frames", {"name": "cnn_lstm", "conv_channels": [4], "lstm_hidden": 8, "lstm_layers": 1})
    frames = ki.interpret_model("cnn", {"interpreter": {"interpretation_method": method, "size": 6, "n_baseline_samples": 4}})
    saved = np.load(frames.file)
    assert frames.attributions.shape == (6, 1, *saved["inputs"].shape[1:]) and saved["inputs"].ndim == 5  # (N, T, C, H, W)
    assert np.isfinite(frames.attributions).all() and np.abs(frames.attributions).sum() > 0
    assert len(frames.plots) == 1 + 4  # per-frame mean saliency, then frames + saliency of 4 points

    _tiny(ki, "field", "synth_field", {"name": "convlstm1d", "filters": [4], "kernel_size": 3, "padding": "same"})
    field = ki.interpret_model("field", {"interpreter": {"interpretation_method": method, "size": 5, "outputs": [0], "n_baseline_samples": 4}})
    saved = np.load(field.file)
    assert field.attributions.shape == (5, 1, *saved["inputs"].shape[1:]) and saved["inputs"].ndim == 4  # (N, T, rows, C)
    assert np.array_equal(field.explained_outputs, np.zeros((5, 1)))
    assert np.isfinite(field.attributions).all()


def test_stateful_lstm_replays_the_stream_context(ki: KnowIt) -> None:
    """With tracking, the state entering a point comes from everything before it in the stream:
    the attributed model outputs equal the tracked predictions, and IG stays complete."""
    kwargs = {"data": {"name": "synth_regression", "batch_sampling": "contiguous", "in_chunk": [-3, 0]},
              "arch": {"name": "lstm", "width": 8, "internal_state": {"tracking": True}},
              "trainer": {**TINY_TRAINER, "limit_train_batches": 20}}
    ki.train_model("track", kwargs)
    out = ki.interpret_model("track", {"interpreter": {"size": 12, "n_steps": 100}})
    saved = np.load(out.file)
    run = KnowIt.load(ki.run_dir("track"))
    from knowit.results.predictions import predict_set, run_data

    points, outputs, _ = predict_set(run.module, run_data(run), "valid")
    tracked = dict(zip(points.tolist(), outputs.reshape(len(points), -1)[:, 0]))
    np.testing.assert_allclose(saved["output"][:, 0], [tracked[p] for p in out.points], rtol=1e-5, atol=1e-6)
    # and the context mattered: a fresh state predicts something else
    import torch

    run.model.reset_states()
    with torch.no_grad():
        fresh = run.model(torch.as_tensor(saved["inputs"])).reshape(len(out.points), -1)[:, 0].numpy()
    assert not np.allclose(fresh, saved["output"][:, 0], atol=1e-4)
    # completeness with the replayed states pinned: the sum is f(x) - f(baseline) from the same state
    from knowit.interpret.run import _replay

    states = _replay(run.module, run_data(run), "valid", out.points)
    run.model.set_states(states)
    with torch.no_grad():
        f_base = run.model(torch.as_tensor(saved["baseline"])[None].expand_as(torch.as_tensor(saved["inputs"]))).reshape(12, -1)[:, 0].numpy()
    np.testing.assert_allclose(out.attributions.reshape(12, -1).sum(1), saved["output"][:, 0] - f_base, atol=2e-2)
    for method in ("DeepLift", "DeepLiftShap"):
        other = ki.interpret_model("track", {"interpreter": {"size": 12, "interpretation_method": method, "n_baseline_samples": 3}})
        assert np.isfinite(other.attributions).all()
        np.testing.assert_allclose(np.load(other.file)["output"][:, 0], saved["output"][:, 0], rtol=1e-5, atol=1e-6)


def test_cli_interpret(cli_main, tmp_path, lag_lstm: KnowIt) -> None:
    out = cli_main(["interpret", "lag", "--method", "DeepLift", "--size", "20", "--exp-dir", str(lag_lstm.exp_dir)], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "largest mean |attribution| at t-3, x1: " in out.stdout  # index (2, 1): offset -3 of in_chunk [-5, 0], x1
    assert (lag_lstm.exp_dir / "models" / "lag" / "interpretations" / "DeepLift_valid_random.npz").is_file()
    bad = cli_main(["interpret", "lag", "--method", "Shapley", "--exp-dir", str(lag_lstm.exp_dir)], cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip() == "knowit: error: interpreter.interpretation_method: 'Shapley' is not a valid choice; choose one of: IntegratedGradients, DeepLift, DeepLiftShap"


def test_an_array_dataset_of_plain_sequences_is_interpreted_without_window_names(ki: KnowIt) -> None:
    """(N, T, C) arrays give attributions of the same rank as a series window, but there is no
    window to name the axes after (``spec`` is None): the attributions come without axis names."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 6, 3)).astype(np.float32)
    ki.import_dataset({"data_import": {"raw_data": {"x": x, "y": 2.0 * x[:, -1, 1]}, "meta": {"name": "seq", "task": "regression"}}})
    ki.train_model("seq", {"data": {"name": "seq"}, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER})
    out = ki.interpret_model("seq", {"interpreter": {"interpretation_set": "test", "size": 4}})
    assert out.attributions.shape == (4, 1, 6, 3) and np.isfinite(out.attributions).all()
    assert out.axis_names is None
