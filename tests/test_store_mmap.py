"""The memory-mapped store: values stay read-only on disk, batches are scaled as they are gathered,
format-1 stores (data.parquet) are converted on first use, and scaler rows are marked exactly."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
import torch

from knowit.config.schema import DataConfig
from knowit.data.prepared import prepare_dataset
from knowit.data.series import SeriesData
from knowit.data.store import TIME_COLUMN, DatasetStore
from knowit.data.windows import touched_rows


def _store(exp_dir, steps: int = 400) -> np.ndarray:
    rng = np.random.default_rng(1)
    values = (rng.standard_normal((steps, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, -3.0]).astype(np.float32)
    data = SeriesData.from_rows(name="m", components=["a", "b", "c"], values=values, times=np.arange(steps, dtype=np.float64),
                                instance_of_row=np.zeros(steps, dtype=np.int64), instances=[0], time_delta=1.0, targets=["c"])
    DatasetStore(exp_dir).save_series(data)
    return values


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_values_are_mapped_read_only_and_batches_are_scaled_in_the_gather(exp_dir):
    values = _store(exp_dir)
    stored = exp_dir / "datasets" / "m" / "values.npy"
    before = _digest(stored)
    cfg = DataConfig(name="m", in_components=["a", "b"], out_components=["c", "b"], in_chunk=[-4, 0], out_chunk=[1, 2],
                     split_method="chronological", split_portions=[0.6, 0.2, 0.2])
    p = prepare_dataset(cfg, DatasetStore(exp_dir), 0)
    assert isinstance(p.data.values, np.memmap) and not p.data.values.flags.writeable
    points = torch.from_numpy(p.set_points("valid")[:7].astype(np.int64))
    batch = p.batch(points)
    # z-norm statistics of the rows the training windows read, applied to this batch by hand.
    train = p.set_points("train")
    in_rows = np.unique((train[:, None] + np.arange(-4, 1)).ravel())
    mean, std = values[in_rows][:, :2].astype(np.float64).mean(0), values[in_rows][:, :2].astype(np.float64).std(0)
    rows = points.numpy()[:, None] + np.arange(-4, 1)
    np.testing.assert_allclose(batch["x"].numpy(), (values[rows][..., :2] - mean) / std, rtol=1e-5, atol=1e-5)
    # "b" is both input and output: scaled by its input statistics on both sides.
    out_rows = np.unique((train[:, None] + np.arange(1, 3)).ravel())
    c_mean, c_std = values[out_rows, 2].astype(np.float64).mean(), values[out_rows, 2].astype(np.float64).std()
    target = values[points.numpy()[:, None] + np.arange(1, 3)][..., [2, 1]]
    expected = (target - [c_mean, mean[1]]) / [c_std, std[1]]
    np.testing.assert_allclose(batch["y"].numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(p.descale_outputs(batch["y"].numpy()), target, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(p.raw_values(points.numpy(), [2]), values[points.numpy()][:, [2]])
    assert _digest(stored) == before  # nothing is ever written back to the store


def test_a_format_1_store_is_converted_on_first_use(exp_dir):
    values = _store(exp_dir, 50)
    folder = exp_dir / "datasets" / "m"
    frame = pd.DataFrame(values, columns=["a", "b", "c"])
    frame.insert(0, TIME_COLUMN, np.arange(50, dtype=np.float64))
    frame.to_parquet(folder / "data.parquet", index=False)  # what format 1 wrote instead of the .npy files
    (folder / "values.npy").unlink()
    (folder / "times.npy").unlink()
    data = DatasetStore(exp_dir).load_series("m")
    np.testing.assert_array_equal(np.asarray(data.values), values)
    np.testing.assert_array_equal(np.asarray(data.times), np.arange(50))
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "times.npy", "values.npy"]  # no temporaries, parquet gone
    assert isinstance(DatasetStore(exp_dir).load_series("m").values, np.memmap)


def test_a_store_whose_values_do_not_match_its_metadata_is_refused(exp_dir):
    from knowit.errors import KnowItDataError

    _store(exp_dir, 50)
    np.save(exp_dir / "datasets" / "m" / "values.npy", np.zeros((49, 3), dtype=np.float32))
    with pytest.raises(KnowItDataError, match=r"data.name: data of dataset 'm' is unreadable: values.npy holds \(49, 3\)"):
        DatasetStore(exp_dir).load_series("m")


def test_covered_rows_marks_exactly_the_rows_of_the_windows(monkeypatch):
    """Random slices, points, window offsets and chunk sizes against a per-point loop."""
    import knowit.data.scaling as scaling

    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(5, 120))
        cuts = np.sort(rng.choice(np.arange(1, n), size=int(rng.integers(0, 5)), replace=False))
        starts = np.concatenate([[0], cuts])
        slices = np.stack([np.zeros_like(starts), starts, np.diff(np.concatenate([starts, [n]]))], 1).astype(np.int64)
        rows = np.sort(rng.choice(n, size=int(rng.integers(1, n)), replace=False))
        lo, hi = (int(v) for v in np.sort(rng.integers(-10, 5, size=2)))
        monkeypatch.setattr(scaling, "CHUNK_ROWS", int(rng.integers(1, 20)))
        expected = np.zeros(n, dtype=bool)
        for first, last in zip(*touched_rows(rows, slices, lo, hi)):
            if first <= last:  # a padded window can lie wholly outside its slice
                expected[first:last + 1] = True
        got = scaling.covered_rows(n, rows, slices, lo, hi)
        assert got.dtype == bool and np.array_equal(got, expected)


@pytest.mark.parametrize("in_idx", [[0, 1, 2], [1, 2], [2, 0]])
def test_window_blocks_gather_the_same_windows_as_rows(in_idx):
    """Unpadded windows of consecutive rows are copied from a window view, one block per window
    (a column run straight from the view, so the batch comes out contiguous with no second pass);
    they equal the row-by-row gather for every column choice (all, a run, reordered)."""
    from knowit.data.windows import WindowGather, WindowSpec

    values = np.random.default_rng(2).standard_normal((50, 3)).astype(np.float32)
    spec = WindowSpec(in_chunk=(-5, 0), out_chunk=(1, 3))
    gather = WindowGather(values, spec, np.array(in_idx), np.array([2]), classification=False)
    assert gather.in_windows is not None and gather.out_windows is not None
    points = torch.tensor([5, 6, 30, 46, 5])
    x, y = gather.inputs(points), gather.targets(points)
    assert x.is_contiguous() and y.is_contiguous()
    np.testing.assert_array_equal(x.numpy(), values[points.numpy()[:, None] + np.arange(-5, 1)][..., in_idx])
    np.testing.assert_array_equal(y.numpy(), values[points.numpy()[:, None] + np.arange(1, 4)][..., [2]])
    padded = WindowGather(values, WindowSpec(in_chunk=(-5, 0), out_chunk=(1, 3), padded=True), np.array(in_idx), np.array([2]),
                          classification=False, slices=np.array([[0, 0, 50]]))
    assert padded.in_windows is None  # clamped rows: the row gather
    np.testing.assert_array_equal(padded.inputs(points).numpy(), x.numpy())
