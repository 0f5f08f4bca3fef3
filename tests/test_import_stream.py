"""Streaming import: a file read in small record batches gives exactly the store of one batch."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from knowit.data.frequency import StepCounter, detect_step
from knowit.data.importing import import_frame
from knowit.data.store import DatasetStore


def _stored(tmp_path, name, raw, meta, batch_rows):
    store = DatasetStore(tmp_path / name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = import_frame(store, raw, {"name": "s", "min_rows": 1, **meta}, batch_rows=batch_rows)
    meta_json = json.loads((store.path("s") / "meta.json").read_text())
    return data, meta_json, [str(w.message) for w in caught]


def _same_store(tmp_path, raw, meta, batch_rows):
    whole, whole_meta, whole_warnings = _stored(tmp_path, "whole", raw, meta, None)
    batched, batched_meta, batched_warnings = _stored(tmp_path, "batched", raw, meta, batch_rows)
    assert batched.values.tobytes() == whole.values.tobytes()
    assert batched.times.tobytes() == whole.times.tobytes()
    np.testing.assert_array_equal(batched.slices, whole.slices)
    assert batched_meta == whole_meta  # freq, step, classes, dropped rows, content hash, ...
    assert batched.fingerprint() == whole.fingerprint() == whole_meta["content_hash"]
    return whole, whole_meta, batched_warnings


def _sensor_csv(path):
    """Two instances of hourly rows. In 6-row batches: a NaN row ends batch 1, the instance changes
    where batch 3 starts, a timestamp repeats across the boundary of batches 3|4, an hour is
    missing, and label classes are first seen out of sorted order."""
    t = pd.date_range("2024-03-01", periods=12, freq="h")
    rows = []
    for inst, times in (("a", t), ("b", t.delete(4))):
        for k, when in enumerate(times):
            rows.append({"time": when.isoformat(), "unit": inst, "x": float(k) + (100 if inst == "b" else 0),
                         "y": np.sin(k), "state": "lo" if k < 3 else "mid" if k < 8 else "hi"})
    frame = pd.DataFrame(rows)
    frame.loc[5, "x"] = np.nan  # a's hour 5: the last row of the first batch
    frame = pd.concat([frame.iloc[:18], frame.iloc[[17]], frame.iloc[18:]], ignore_index=True)  # rows 17|18 repeat
    frame.to_csv(path, index=False)
    return frame


@pytest.mark.parametrize("batch_rows", [1, 6, 7])
def test_a_csv_read_in_small_batches_gives_the_store_of_one_batch(tmp_path, batch_rows):
    path = tmp_path / "sensors.csv"
    _sensor_csv(path)
    meta = {"instance_column": "unit", "labels": ["state"]}
    data, meta_json, caught = _same_store(tmp_path, str(path), meta, batch_rows)
    assert data.instances == ["a", "b"] and data.freq == "h"
    # a: hours 0-4 | 6-11 (hour 5 was NaN); b: hours 0-3 | 5-11 (hour 4 missing)
    assert data.slices.tolist() == [[0, 0, 5], [0, 5, 6], [1, 11, 4], [1, 15, 7]]
    assert meta_json["dropped_rows"] == {"of": 24, "duplicate": 1, "missing": 1}
    assert meta_json["categories"] == {"state": ["hi", "lo", "mid"]}  # sorted, though "lo" came first
    assert meta_json["class_counts"] == {"state": {"hi": 7, "lo": 6, "mid": 9}}
    np.testing.assert_array_equal(data.values[:5, 2], [1, 1, 1, 2, 2])  # lo, mid: renumbered in place
    assert any("dropped 1 row with a duplicate timestamp" in w for w in caught)


@pytest.mark.parametrize("nan_handling", ["linear", "ffill", "bfill", "nearest"])
def test_interpolation_across_batch_boundaries_matches_one_batch(tmp_path, nan_handling):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"time": np.arange(60, dtype=float), "instance": ["p"] * 30 + ["q"] * 30,
                          "u": rng.normal(size=60), "v": rng.normal(size=60)})
    frame["time"] = np.r_[np.arange(30.0), np.arange(30.0)]
    frame.loc[[4, 5, 6, 7, 8, 13, 29, 30, 31, 44, 45], "u"] = np.nan  # runs across the 5-row batch ends
    frame.loc[[9, 10, 11, 12, 27, 28], "v"] = np.nan
    path = tmp_path / "gaps.parquet"
    frame.to_parquet(path)
    data, meta_json, _ = _same_store(tmp_path, str(path), {"nan_handling": nan_handling}, 5)
    assert meta_json["dropped_rows"]["missing"] > 0 or nan_handling in ("ffill", "bfill")


def test_rows_without_time_column_are_numbered_across_batches(tmp_path):
    frame = pd.DataFrame({"instance": ["a"] * 9 + ["b"] * 8, "x": np.arange(17.0)})
    path = tmp_path / "plain.csv"
    frame.to_csv(path, index=False)
    data, _, _ = _same_store(tmp_path, str(path), {}, 4)
    np.testing.assert_array_equal(data.times, np.r_[np.arange(9.0), np.arange(8.0)])
    assert data.slices.tolist() == [[0, 0, 9], [1, 9, 8]]


def test_monthly_calendar_is_detected_over_batches(tmp_path):
    t = pd.date_range("2020-01-31", periods=40, freq="ME")
    frame = pd.DataFrame({"time": t.delete(17).strftime("%Y-%m-%d"), "x": np.arange(39.0)})
    path = tmp_path / "monthly.csv"
    frame.to_csv(path, index=False)
    data, meta_json, _ = _same_store(tmp_path, str(path), {}, 6)
    assert data.freq == "ME" and meta_json["time_step"] == "1 month"
    assert data.slices[:, 2].tolist() == [17, 22]


def test_batches_out_of_time_order_are_sorted_in_memory_with_a_warning(tmp_path):
    frame = pd.DataFrame({"time": np.r_[np.arange(10.0, 20.0), np.arange(10.0)], "x": np.r_[np.arange(10.0, 20.0), np.arange(10.0)]})
    path = tmp_path / "late.csv"
    frame.to_csv(path, index=False)
    data, _, caught = _same_store(tmp_path, str(path), {}, 6)
    assert any("late.csv is not sorted by instance and time (table row 10" in w and "sorted in memory" in w for w in caught)
    np.testing.assert_array_equal(data.values[:, 0], np.arange(20.0))
    assert data.slices.tolist() == [[0, 0, 20]]


def test_a_refused_batch_names_its_table_row_and_leaves_nothing(tmp_path):
    frame = pd.DataFrame({"time": np.arange(20.0), "x": [str(v) for v in range(20)]})
    frame.loc[13, "x"] = "oops"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    store = DatasetStore(tmp_path / "exp")
    from knowit.errors import KnowItDataError

    with pytest.raises(KnowItDataError, match=r"column 'x' is not numeric: row 13 holds 'oops'"):
        import_frame(store, str(path), {"name": "s"}, batch_rows=5)
    assert store.names() == [] and not any(store.root.iterdir())


def test_step_counter_over_chunks_equals_detect_step_on_all_rows():
    rng = np.random.default_rng(0)
    cases = [
        (pd.date_range("2021-01-01", periods=300, freq="B", tz="Europe/Berlin").tz_convert("UTC").tz_localize(None).asi8, True, "Europe/Berlin"),
        (pd.date_range("2000-01-01", periods=200, freq="MS").asi8, True, None),
        (pd.date_range("2000-01-01", periods=200, freq="15min").asi8, True, None),
        (np.cumsum(rng.choice([0.5, 0.5, 1.0], size=250)), False, None),
    ]
    for times, dates, tz in cases:
        times = np.delete(times, [7, 50, 51]).astype(np.float64)
        inst = (np.arange(len(times)) >= len(times) // 2).astype(np.int64)
        whole = detect_step(times, inst, dates=dates, tz=tz)
        for step in (2, 17, 64):
            counter = StepCounter(dates=dates, tz=tz)
            for start in range(0, len(times), step):
                lo = max(0, start - 1)
                counter.feed(times[lo:start + step], inst[lo:start + step])
            assert counter.result() == whole, (dates, tz, step)


def test_parquet_batches_hold_one_batch_not_the_file(tmp_path):
    """Arrow's read-ahead (pre_buffer) once kept the file's pages for every batch read so far:
    peak memory grew with the file. The reader now holds about one batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from knowit.data.import_stream import table_batches

    levels = (np.arange(256, dtype=np.float32) - 128) / 16
    codes = np.random.default_rng(0).integers(0, 256, size=(100_000, 8))
    group = pa.table({f"c{j}": levels[codes[:, j]] for j in range(8)})
    path = tmp_path / "long.parquet"
    with pq.ParquetWriter(path, group.schema, compression="none") as writer:
        for _ in range(40):
            writer.write_table(group, row_group_size=len(group))
    peak, rows = 0, 0
    for _, batch in table_batches(str(path), 25_000)():
        rows += len(batch)
        peak = max(peak, pa.total_allocated_bytes())
    assert rows == 4_000_000
    assert peak < path.stat().st_size / 4, (peak, path.stat().st_size)  # ~3.7 MiB here; with pre_buffer ~33 MiB
