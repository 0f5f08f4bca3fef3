"""Time-series windows, splits and scaling, checked against plain numpy on imported DataFrames."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from knowit import KnowItDataError
from knowit.config.schema import DataConfig
from knowit.data.prepared import prepare_dataset
from knowit.data.store import DatasetStore
from tests.conftest import TINY_TRAINER


def frame(n_per_instance: int = 120, instances: int = 3, gap_at: int | None = 50, seed: int = 0) -> pd.DataFrame:
    """Instances of 4 inputs and one target on a unit time step; a time gap cuts each instance."""
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(instances):
        t = np.arange(n_per_instance, dtype=float)
        if gap_at is not None:
            t[gap_at:] += 7  # a broken time step: a new slice
        x = rng.normal(size=(n_per_instance, 4))
        y = x[:, 0] + 0.5 * np.roll(x[:, 1], 2)
        parts.append(pd.DataFrame({"time": t, "instance": f"i{i}", "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "x4": x[:, 3], "y1": y}))
    return pd.concat(parts, ignore_index=True)


def prepare(exp_dir, df: pd.DataFrame | None = None, *, name: str = "series", seed: int = 0, **data):
    store = DatasetStore(exp_dir)
    if df is not None and not store.exists(name):
        from knowit.data.importing import import_dataset

        import_dataset(store, df, {"name": name, "time_column": "time"})
    cfg = DataConfig(name=name, in_components=["x1", "x2", "x3", "x4"], out_components=["y1"], **data)
    cfg.check()
    return prepare_dataset(cfg, store, seed)


def all_batch(prepared, set_name: str):
    return prepared.batch(torch.from_numpy(prepared.set_points(set_name)))


def test_windows_follow_knowit_semantics_and_stay_inside_slices(exp_dir):
    df = frame()
    p = prepare(exp_dir, df, in_chunk=[-3, 1], out_chunk=[1, 4], scaling_method=None, split_method="random")
    values, slices = p.data.values, p.data.slices
    # 3 instances x 2 slices (lengths 50 and 70); a window spans rows t-3 .. t+4 (8 rows).
    assert sorted(slices[:, 2].tolist()) == [50, 50, 50, 70, 70, 70]
    assert p.n_points == 3 * ((50 - 8 + 1) + (70 - 8 + 1))
    batch = all_batch(p, "train")
    assert batch["x"].shape[1:] == (5, 4) and batch["y"].shape[1:] == (4, 1)  # multi-step target: 4 future rows
    assert p.output_dim == [4, 1]
    for k, t in enumerate(batch["point"].tolist()):
        s = p.slice_of(np.array([t]))[0]
        first, length = slices[s, 1], slices[s, 2]
        assert first <= t - 3 and t + 4 < first + length
        np.testing.assert_array_equal(batch["x"][k].numpy(), values[t - 3:t + 2, :4])
        np.testing.assert_array_equal(batch["y"][k].numpy(), values[t + 1:t + 5, 4:5])


def test_windows_share_memory_with_the_stored_rows(exp_dir):
    p = prepare(exp_dir, frame(), in_chunk=[-5, 0], out_chunk=[0, 0])
    assert p.gather.values.data_ptr() == torch.from_numpy(p.data.values).data_ptr()


def test_zero_padding_keeps_early_points_and_pads_after_scaling(exp_dir):
    df = frame()
    plain = prepare(exp_dir, df, in_chunk=[-9, 0], out_chunk=[0, 0], split_method="random")
    padded = prepare(exp_dir, in_chunk=[-9, 0], out_chunk=[0, 0], split_method="random", padding="zeros")
    assert padded.n_points == plain.n_points + 9 * len(padded.data.slices)
    first_rows = padded.data.slices[:, 1]
    points = torch.from_numpy(first_rows + 2)  # third row of each slice: 7 padded input rows
    x = padded.batch(points)["x"]
    assert torch.count_nonzero(x[:, :7]) == 0
    raw = padded.raw_values((first_rows[:, None] + np.arange(3)).ravel(), np.arange(4)).reshape(-1, 3, 4)
    torch.testing.assert_close(x[:, 7:], padded.x_scaler.transform(torch.from_numpy(raw.astype(np.float32))))


def touched(p, set_name):
    rows = set()
    for t in p.set_points(set_name):
        rows.update(range(t + p.spec.lo, t + p.spec.hi + 1))
    return rows


def test_chronological_split_never_puts_valid_or_test_rows_in_a_training_window(exp_dir):
    p = prepare(exp_dir, frame(gap_at=None, instances=1, n_per_instance=400), in_chunk=[-20, 0], out_chunk=[1, 5])
    train, valid, test = (touched(p, s) for s in ("train", "valid", "test"))
    assert train and valid and test
    assert not train & valid and not train & test and not valid & test
    times = p.data.times
    assert max(times[list(train)]) < min(times[list(valid)]) < max(times[list(valid)]) < min(times[list(test)])
    # the purge gap drops only the points whose windows straddle a boundary (2 boundaries x 25 rows)
    assert p.n_points - sum(len(v) for v in p.sets.values()) <= 2 * 26


@pytest.mark.parametrize("method", ["random", "instance-random", "instance-chronological", "slice-random", "slice-chronological"])
def test_split_methods_partition_points_by_their_unit(exp_dir, method):
    p = prepare(exp_dir, frame(instances=5), in_chunk=[-4, 0], out_chunk=[0, 0], split_method=method, split_portions=[0.6, 0.2, 0.2])
    ids = [p.sets[s] for s in ("train", "valid", "test")]
    assert sum(len(i) for i in ids) == p.n_points
    assert len(np.unique(np.concatenate(ids))) == p.n_points
    if method != "random":
        units = [p.slice_of(i) for i in ids]
        owners = [set((p.data.slices[u, 0] if method.startswith("instance") else u).tolist()) for u in units]
        assert not owners[0] & owners[1] and not owners[0] & owners[2] and not owners[1] & owners[2]
    if method.endswith("random"):
        again = prepare(exp_dir, in_chunk=[-4, 0], out_chunk=[0, 0], split_method=method)
        other = prepare(exp_dir, in_chunk=[-4, 0], out_chunk=[0, 0], split_method=method, seed=7)
        assert all(np.array_equal(p.sets[s], again.sets[s]) for s in p.sets)
        assert not all(np.array_equal(p.sets[s], other.sets[s]) for s in p.sets)
    if method == "instance-chronological":
        assert set(p.data.slices[p.slice_of(p.sets["train"]), 0].tolist()) == {0, 1, 2}


def test_custom_split_column_with_names_purges_mixed_windows(exp_dir):
    df = frame(gap_at=None, instances=1, n_per_instance=200)
    df["fold"] = np.where(df["time"] < 120, "train", np.where(df["time"] < 160, "valid", "test"))
    from knowit.data.importing import import_dataset

    import_dataset(DatasetStore(exp_dir), df, {"name": "folds", "time_column": "time", "labels": ["fold"]})
    store = DatasetStore(exp_dir)
    cfg = DataConfig(name="folds", out_components=["y1"], split_method="custom", split_column="fold", in_chunk=[-9, 0], out_chunk=[0, 0])
    cfg.check()
    p = prepare_dataset(cfg, store, 0)
    assert p.in_components == ["x1", "x2", "x3", "x4"]  # the split column is never an input
    times = {s: p.data.times[p.set_points(s)] for s in p.sets}
    assert times["train"].min() == 9 and times["train"].max() == 119
    assert times["valid"].min() == 129 and times["valid"].max() == 159  # first 9 purged
    assert times["test"].min() == 169 and times["test"].max() == 199


def test_custom_split_bad_values_and_clash(exp_dir):
    df = frame(gap_at=None, instances=1)
    df["fold"] = 5.0
    from knowit.data.importing import import_dataset

    import_dataset(DatasetStore(exp_dir), df, {"name": "bad_folds", "time_column": "time"})
    with pytest.raises(KnowItDataError, match="data.split_column: 'fold' must hold 0/1/2"):
        prepare(exp_dir, name="bad_folds", split_method="custom", split_column="fold")
    with pytest.raises(KnowItDataError, match="data.split_column: 'x1' is also a model input"):
        prepare(exp_dir, name="bad_folds", split_method="custom", split_column="x1")


def test_scaler_sees_training_rows_only_under_a_distribution_shift(exp_dir):
    df = frame(gap_at=None, instances=1, n_per_instance=1000)
    late = df["time"] >= 620  # validation and test rows come from a shifted distribution
    df.loc[late, ["x1", "x2", "x3", "x4", "y1"]] = df.loc[late, ["x1", "x2", "x3", "x4", "y1"]] * 10 + 100
    p = prepare(exp_dir, df, in_chunk=[-5, 0], out_chunk=[0, 0], split_portions=[0.6, 0.2, 0.2])
    train_rows = sorted(touched(p, "train"))
    assert max(train_rows) < 620
    expected = DatasetStore(exp_dir).load_series("series").values[train_rows].astype(np.float64)
    np.testing.assert_allclose(p.x_scaler.shift, expected[:, :4].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(p.x_scaler.scale, expected[:, :4].std(axis=0), rtol=1e-12)  # numpy's std, ddof 0
    targets = DatasetStore(exp_dir).load_series("series").values[p.set_points("train"), 4:].astype(np.float64)  # out_chunk [0, 0]: the points' own rows
    np.testing.assert_allclose(p.y_scaler.scale, targets.std(axis=0), rtol=1e-12)
    assert abs(float(all_batch(p, "train")["x"].mean())) < 0.05
    assert float(all_batch(p, "test")["x"].mean()) > 50  # the shift shows: nothing of it was fitted
    y = all_batch(p, "test")["y"].numpy()
    np.testing.assert_allclose(p.descale_outputs(y), p.raw_values(p.set_points("test"), [4])[:, None, :], rtol=1e-5)
    np.testing.assert_allclose(p.raw_values(train_rows), expected, rtol=1e-5, atol=1e-5)  # in-place scaling undone


def test_zero_one_and_in_only_scaling(exp_dir):
    df = frame()
    p = prepare(exp_dir, df, in_chunk=[-2, 0], out_chunk=[0, 0], scaling_method="zero-one", scaling_tag="in_only")
    x = all_batch(p, "train")["x"]
    assert float(x.min()) == pytest.approx(0.0, abs=1e-6) and float(x.max()) == pytest.approx(1.0, abs=1e-6)
    assert p.y_scaler is None
    np.testing.assert_array_equal(all_batch(p, "train")["y"].numpy()[:, 0, 0], p.data.values[p.set_points("train"), 4])


def test_classification_labels_are_never_scaled(exp_dir):
    df = frame(gap_at=None, instances=2)
    df["label"] = (df["x1"] > 0).astype(int)
    from knowit.data.importing import import_dataset

    import_dataset(DatasetStore(exp_dir), df, {"name": "cls", "time_column": "time"})
    cfg = DataConfig(name="cls", task="classification", in_components=["x1", "x2"], out_components=["label"], in_chunk=[-3, 0], scaling_tag="full")
    p = prepare_dataset(cfg, DatasetStore(exp_dir), 0)
    assert p.y_scaler is None and p.class_names == ["0", "1"]
    batch = all_batch(p, "train")
    assert batch["y"].dtype == torch.int64 and set(batch["y"].tolist()) == {0, 1}


@pytest.mark.parametrize(
    "data, match",
    [
        ({"in_components": ["x1", "nope"]}, "data.in_components: dataset 'series' has no component 'nope'"),
        ({"in_chunk": [-80, 0]}, "data.in_chunk/out_chunk: a window spans 81 rows but the longest slice has 70"),
        ({"split_portions": [0.98, 0.01, 0.01], "split_method": "instance-chronological"}, "data.split_portions: the valid set is empty"),
    ],
)
def test_impossible_data_requests_fail_before_training(exp_dir, data, match):
    df = frame()
    prepare(exp_dir, df, in_chunk=[-3, 0])  # stores the dataset
    before = sorted(p.name for p in (exp_dir / "datasets").rglob("*"))
    cfg = {"in_chunk": [-3, 0], "out_chunk": [0, 0], **data}
    components = cfg.pop("in_components", ["x1", "x2", "x3", "x4"])
    with pytest.raises(KnowItDataError, match=match.replace("(", r"\(")):
        c = DataConfig(name="series", in_components=components, out_components=["y1"], **cfg)
        c.check()
        prepare_dataset(c, DatasetStore(exp_dir), 0)
    assert sorted(p.name for p in (exp_dir / "datasets").rglob("*")) == before
    assert not (exp_dir / "models").exists()


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda df: df.assign(x2="a"), "column 'x2' is not numeric"),
        (lambda df: df.assign(x3=np.nan), "column 'x3' holds only missing values"),
        (lambda df: df.assign(x4=np.inf), "column 'x4' holds infinite values"),
    ],
)
def test_bad_frames_are_rejected_and_the_store_stays_empty(ki, exp_dir, mutate, match):
    df = mutate(frame())
    with pytest.raises(KnowItDataError, match=match):
        ki.import_dataset({"data_import": {"raw_data": df, "meta": {"name": "bad", "time_column": "time", "components": ["x1", "x2", "x3", "x4", "y1"]}}})
    assert "bad" not in ki.available_datasets()


@pytest.mark.parametrize("content, match", [("", "cannot read|holds no rows"), ("time,x1\n", "holds no rows"), ("\x00\x01garbage", "cannot read|no numeric|holds no rows")])
def test_unreadable_or_empty_files(ki, tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(KnowItDataError, match=match):
        ki.import_dataset({"data_import": {"raw_data": str(path), "meta": {"name": "bad"}}})
    assert "bad" not in ki.available_datasets()


def test_reference_train_model_example_runs_on_an_imported_dataframe(ki):
    """The KnowIt reference's LSTM example, as written (smaller model and fewer epochs)."""
    ki.import_dataset({"data_import": {"raw_data": frame(instances=6), "meta": {"name": "my_data", "time_column": "time"}}})
    data_args = {"name": "my_data", "task": "regression", "in_components": ["x1", "x2", "x3", "x4"], "out_components": ["y1"],
                 "in_chunk": [-5, 5], "out_chunk": [0, 0], "split_portions": [0.6, 0.2, 0.2], "batch_size": 64,
                 "split_method": "instance-random", "scaling_tag": "full"}
    arch_args = {"task": "regression", "name": "LSTM", "arch_hps": {
        "arch_args": {"dropout": 0.6, "width": 16, "bidirectional": False},
        "internal_state": {"init_cell_state": "zeros", "init_hidden_state": "zeros"}}}
    trainer_args = {"loss_fn": "mse_loss", "optim": "Adam", "max_epochs": 2, "learning_rate": 0.01, "task": "regression",
                    "accelerator": TINY_TRAINER["accelerator"]}
    result = ki.train_model("my_new_model", kwargs={"data": data_args, "arch": arch_args, "trainer": trainer_args}, safe_mode=False, and_viz=True)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["data"]["input_dim"] == [11, 4]
    scalers = json.loads((result.run_dir / "scalers.json").read_text())
    assert scalers["inputs"]["components"] == ["x1", "x2", "x3", "x4"] and scalers["outputs"]["components"] == ["y1"]
    assert np.isfinite(result.metrics["test_loss_scaled"]) and (result.run_dir / "visualizations" / "learning_curves.png").is_file()


@pytest.mark.parametrize("padding", [None, "zeros"])
def test_chronological_ranges_match_the_per_point_definition(exp_dir, padding):
    """Sets found per slice with binary searches equal the plain per-point rule."""
    p = prepare(exp_dir, frame(instances=4, seed=3), in_chunk=[-6, -1], out_chunk=[1, 3], padding=padding, split_portions=[0.5, 0.3, 0.2])
    from knowit.data.windows import expand_ranges, point_ranges, touched_rows

    rows = expand_ranges(*point_ranges(p.data.slices, p.spec))
    first, last = touched_rows(rows, p.data.slices, p.spec.lo, p.spec.hi)
    t, t_first, t_last = p.data.times[rows], p.data.times[first], p.data.times[last]
    ordered = np.sort(t)
    b1, b2 = ordered[round(0.5 * len(t))], ordered[round(0.8 * len(t))]
    expected = {"train": rows[t_last < b1], "valid": rows[(t_first >= b1) & (t_last < b2)], "test": rows[t_first >= b2]}
    for name, want in expected.items():
        np.testing.assert_array_equal(p.sets[name], want)


@pytest.mark.parametrize("tag", ["full", "in_only"])
def test_a_component_that_is_input_and_output_is_scaled_once(exp_dir, tag):
    df = frame()
    store = DatasetStore(exp_dir)
    from knowit.data.importing import import_dataset

    import_dataset(store, df, {"name": "auto", "time_column": "time"})
    raw = store.load_series("auto").values
    cfg = DataConfig(name="auto", in_components=["x1", "y1"], out_components=["y1"], in_chunk=[-4, 0], out_chunk=[1, 2], scaling_tag=tag)
    p = prepare_dataset(cfg, store, 0)
    batch = all_batch(p, "train")
    rows = p.set_points("train")
    y_raw = raw[rows[:, None] + np.array([1, 2]), 4]
    x_last = batch["x"][:, -1, 1].numpy()  # y1 at the point itself, as an input
    np.testing.assert_allclose(x_last, (raw[rows, 4] - p.x_scaler.shift[1]) / p.x_scaler.scale[1], rtol=1e-4, atol=1e-5)
    if tag == "full":
        assert p.y_scaler.shift[0] == p.x_scaler.shift[1] and p.y_scaler.scale[0] == p.x_scaler.scale[1]
        np.testing.assert_allclose(p.descale_outputs(batch["y"].numpy())[..., 0], y_raw, rtol=1e-4, atol=1e-5)
    else:
        assert p.y_scaler is None
        np.testing.assert_allclose(batch["y"].numpy()[..., 0], y_raw, rtol=1e-5, atol=1e-5)  # original units


def test_a_label_cannot_be_an_input(exp_dir):
    df = frame(gap_at=None, instances=1)
    df["label"] = (df["x1"] > 0).astype(int)
    from knowit.data.importing import import_dataset

    import_dataset(DatasetStore(exp_dir), df, {"name": "cls2", "time_column": "time"})
    cfg = DataConfig(name="cls2", task="classification", in_components=["x1", "label"], out_components=["label"], in_chunk=[-3, 0])
    with pytest.raises(KnowItDataError, match="data.in_components: the label component cannot also be an input"):
        prepare_dataset(cfg, DatasetStore(exp_dir), 0)


@pytest.mark.parametrize("shape, axis", [((1003, 3), -1), ((41, 4, 2, 5, 3), 2)])
def test_scaler_fit_in_chunks_equals_whole_array_statistics(monkeypatch, shape, axis):
    """The scaler is fitted chunk by chunk (no float64 copy of the training set); its statistics
    equal numpy's over the whole array, for series (rows, C) and image sequences (N, T, C, H, W)."""
    from knowit.data import scaling

    monkeypatch.setattr(scaling, "FIT_CHUNK_ELEMENTS", 97)  # many uneven chunks
    rng = np.random.default_rng(4)
    values = (rng.standard_normal(shape) * 2 + 1e3).astype(np.float32)  # a large offset: the spread must survive
    np.moveaxis(values, axis, 0)[0] = 7.0  # and a constant component (scale 1)
    reduce = tuple(i for i in range(values.ndim) if i != axis % values.ndim)
    z = scaling.Scaler.fit("z-norm", values, [f"c{i}" for i in range(shape[axis])], axis=axis)
    wide = values.astype(np.float64)
    np.testing.assert_allclose(z.shift, wide.mean(axis=reduce), rtol=1e-12)
    np.testing.assert_allclose(z.scale, np.where(wide.std(axis=reduce) > 0, wide.std(axis=reduce), 1.0), rtol=1e-9)
    mm = scaling.Scaler.fit("zero-one", values, [f"c{i}" for i in range(shape[axis])], axis=axis)
    np.testing.assert_array_equal(mm.shift, wide.min(axis=reduce))
    np.testing.assert_allclose(mm.scale, np.where(np.ptp(wide, axis=reduce) > 0, np.ptp(wide, axis=reduce), 1.0))
