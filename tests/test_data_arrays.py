"""Array datasets: import (dict / .npz), storage without pickle, splits, scaling, batches, training."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import TINY_ARCH, TINY_TRAINER, tree_digest

from knowit import KnowItDataError
from knowit.config.schema import DataConfig
from knowit.data.datamodule import KnowItDataModule
from knowit.data.prepared import prepare_dataset
from knowit.data.store import DatasetStore


def _frames(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4, 2, 5, 6)).astype(np.float32), rng.choice(["cat", "dog", "eel"], n)


def _import(ki, raw, **meta):
    return ki.import_dataset({"data_import": {"raw_data": raw, "meta": {"name": "arr", **meta}}})


def test_string_labels_are_coded_and_stored_without_pickle(ki, exp_dir):
    x, y = _frames(30)
    summary = _import(ki, {"x": x, "y": y})
    assert summary["kind"] == "arrays" and summary["task"] == "classification"
    assert summary["sample_shape"] == [4, 2, 5, 6]
    assert summary["class_names"] == ["cat", "dog", "eel"]
    assert summary["class_counts"] == {c: int((y == c).sum()) for c in ["cat", "dog", "eel"]}
    folder = exp_dir / "datasets" / "arr"
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "meta.json"]
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["x"], x)
        names = json.loads((folder / "meta.json").read_text())["class_names"]
        np.testing.assert_array_equal(np.array(names)[npz["y"]], y)


def test_integer_labels_keep_numeric_order(ki):
    x = np.zeros((12, 3, 2), np.float32) + np.arange(12, dtype=np.float32)[:, None, None]
    y = np.array([10, 2, 2, 10, 7, 7, 2, 10, 7, 2, 10, 7])
    summary = _import(ki, {"x": x, "y": y})
    assert summary["class_names"] == ["2", "7", "10"]
    assert summary["class_counts"] == {"2": 4, "7": 4, "10": 4}


def test_npz_with_given_test_partition_and_stratified_validation(ki, tmp_path):
    x, y = _frames(50)
    xt, yt = _frames(10, seed=1)
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y, x_test=xt, y_test=yt)
    _import(ki, str(path))
    cfg = DataConfig(name="arr", task="classification", split_method="random", stratify=True, val_fraction=0.2, batch_size=8)
    p = prepare_dataset(cfg, DatasetStore(ki.exp_dir), seed=3)
    np.testing.assert_array_equal(p.set_points("test"), np.arange(50, 60))  # the given partition, untouched
    train, valid = p.set_points("train"), p.set_points("valid")
    assert len(set(train) | set(valid)) == 50 and not set(train) & set(valid)
    for c in ("cat", "dog", "eel"):  # every class split 80/20 (rounded)
        n_c = int((y == c).sum())
        assert p.class_counts["valid"][c] == round(0.2 * n_c)
    assert p.class_counts["test"] == {c: int((yt == c).sum()) for c in ("cat", "dog", "eel")}
    # Same seed -> same split; another seed -> another one.
    again = prepare_dataset(cfg, DatasetStore(ki.exp_dir), seed=3)
    np.testing.assert_array_equal(again.set_points("valid"), valid)
    other = prepare_dataset(cfg, DatasetStore(ki.exp_dir), seed=4)
    assert not np.array_equal(other.set_points("valid"), valid)


def test_image_batches_shapes_and_train_only_channel_scaling(ki, exp_dir):
    x, y = _frames(40)
    x[:, :, 1] += 5.0  # channel 1 has its own scale
    _import(ki, {"x": x, "y": y})
    cfg = DataConfig(name="arr", task="classification", split_method="chronological", split_portions=[0.5, 0.25, 0.25], batch_size=7)
    dm = KnowItDataModule(cfg, exp_dir, seed=0)
    assert dm.input_dim == [4, 2, 5, 6] and dm.output_dim == [3]
    p = dm.prepared
    np.testing.assert_array_equal(p.set_points("train"), np.arange(20))
    train = x[:20].astype(np.float64)
    np.testing.assert_allclose(p.x_scaler.shift, train.mean(axis=(0, 1, 3, 4)))
    np.testing.assert_allclose(p.x_scaler.scale, train.std(axis=(0, 1, 3, 4)))
    batch = next(iter(dm.val_dataloader()))
    assert batch["x"].shape == (7, 4, 2, 5, 6) and batch["y"].dtype == torch.int64
    expected = (x[20:27] - p.x_scaler.shift[None, None, :, None, None]) / p.x_scaler.scale[None, None, :, None, None]
    np.testing.assert_allclose(batch["x"].numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(batch["point"].numpy(), np.arange(20, 27))


def test_field_regression_targets_scaled_and_descaled(ki, exp_dir):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((30, 6, 8, 3)).astype(np.float32)  # (N, T, rows, channels)
    y = rng.normal(50.0, 4.0, (30, 2)).astype(np.float32)
    _import(ki, {"x": x, "y": y})
    cfg = DataConfig(name="arr", task="regression", split_method="random", batch_size=30, scaling_tag="full")
    dm = KnowItDataModule(cfg, exp_dir, seed=0)
    assert dm.input_dim == [6, 8, 3] and dm.output_dim == [2]
    p = dm.prepared
    train = p.set_points("train")
    np.testing.assert_allclose(p.x_scaler.shift, x[train].astype(np.float64).mean(axis=(0, 1, 2)))
    batch = p.batch(torch.as_tensor(train))
    np.testing.assert_allclose(p.descale_outputs(batch["y"].numpy()), y[train], rtol=1e-5)
    assert abs(float(batch["y"].mean())) < 1e-5


def test_class_weights_balanced(ki, exp_dir):
    x = np.zeros((40, 3, 2), np.float32)
    y = np.array([0] * 30 + [1] * 10)
    _import(ki, {"x": x, "y": y})
    cfg = DataConfig(name="arr", task="classification", split_method="random", stratify=True, split_portions=[0.5, 0.25, 0.25], class_weights="balanced")
    p = prepare_dataset(cfg, DatasetStore(exp_dir), seed=0)
    assert p.class_counts["train"] == {"0": 15, "1": 5}
    assert p.class_weights == pytest.approx([20 / (2 * 15), 20 / (2 * 5)])


@pytest.mark.parametrize(
    "raw, match",
    [
        ({"x": np.full((5, 3, 2), np.nan), "y": np.arange(5)}, "NaN or infinite"),
        ({"x": np.zeros((5, 3, 2)), "y": np.arange(4)}, "'y' has 4 entries"),
        ({"x": np.zeros((5, 3)), "y": np.arange(5)}, "must be \\(N, T, C\\)"),
        ({"x": np.zeros((5, 3, 2))}, "'y' is missing"),
        ({"x": np.zeros((5, 3, 2)), "y": np.arange(5), "x_test": np.zeros((2, 3, 2))}, "both 'x_test' and 'y_test'"),
        ({"x": np.zeros((5, 3, 2)), "y": np.arange(5), "x_test": np.zeros((2, 4, 2)), "y_test": np.arange(2)}, "'x_test' samples have shape"),
        ({"x": np.zeros((5, 3, 2)), "y": np.arange(5), "z": np.zeros(5)}, "unknown array 'z'"),
        ({"x": np.array([["a"] * 2] * 3).reshape(3, 2, 1), "y": np.arange(3)}, "must be numeric"),
    ],
)
def test_bad_arrays_raise_before_the_store_changes(ki, exp_dir, raw, match):
    _import(ki, {"x": np.zeros((4, 3, 2), np.float32), "y": np.arange(4)})
    before = tree_digest(exp_dir)
    with pytest.raises(KnowItDataError, match=match):
        ki.import_dataset({"data_import": {"raw_data": raw, "meta": {"name": "bad"}}})
    assert tree_digest(exp_dir) == before


def test_object_npz_and_existing_name_rejected(ki, exp_dir, tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.zeros((3, 2, 1)), y=np.array([{"a": 1}] * 3, dtype=object))
    with pytest.raises(KnowItDataError, match="cannot read obj.npz"):
        _import(ki, str(path))
    _import(ki, {"x": np.zeros((4, 3, 2)), "y": np.arange(4)})
    with pytest.raises(KnowItDataError, match="already exists"):
        _import(ki, {"x": np.ones((4, 3, 2)), "y": np.arange(4)})
    summary = ki.import_dataset({"data_import": {"raw_data": {"x": np.ones((6, 3, 2)), "y": np.arange(6.0)}, "meta": {"name": "arr", "task": "regression"}}}, safe_mode=False)
    assert summary["n_samples"] == 6 and summary["task"] == "regression"


def test_config_mismatch_errors(ki, exp_dir):
    _import(ki, {"x": np.zeros((10, 3, 2)), "y": np.arange(10) % 2})
    store = DatasetStore(exp_dir)
    with pytest.raises(KnowItDataError, match="data.task"):
        prepare_dataset(DataConfig(name="arr", task="regression"), store, 0)
    with pytest.raises(KnowItDataError, match="data.split_method"):
        prepare_dataset(DataConfig(name="arr", task="classification", split_method="instance-random"), store, 0)
    with pytest.raises(KnowItDataError, match="data.in_components"):
        prepare_dataset(DataConfig(name="arr", task="classification", in_components=["a"]), store, 0)
    with pytest.raises(KnowItDataError, match="(valid|test) set .* is empty"):
        prepare_dataset(DataConfig(name="arr", task="classification", split_portions=[0.9, 0.04, 0.06]), store, 0)


def test_train_on_builtin_frames_through_the_api(ki):
    torch.manual_seed(0)
    result = ki.train_model(
        "frames",
        {"data": {"name": "synth_frames"}, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER},
    )
    assert result.status == "completed"
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["data"]["input_dim"] == [8, 1, 12, 12]
    assert summary["data"]["output_dim"] == [3]
    assert summary["data"]["n_points"] == {"train": 96, "valid": 24, "test": 40}
    assert "test_accuracy" in result.metrics
    assert ki.summarize_dataset("synth_frames")["n_given_test"] == 40
    assert {"synth_frames", "synth_field"} <= set(ki.available_datasets())


def test_train_on_field_dict_dataset(ki):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 5, 7, 2)).astype(np.float32)
    _import(ki, {"x": x, "y": x[:, -1, :, 0].mean(axis=1)})
    result = ki.train_model(
        "field",
        {"data": {"name": "arr", "task": "regression", "split_method": "random", "batch_size": 4}, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER},
    )
    assert result.status == "completed" and "test_loss_scaled" in result.metrics
