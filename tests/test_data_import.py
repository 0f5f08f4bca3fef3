"""Importing time series: DataFrame / CSV / Parquet, slices, sorting, duplicates, labels, CLI."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from knowit.data.store import DatasetStore


def _frame(n: int = 40) -> pd.DataFrame:
    t = pd.date_range("2024-01-01", periods=n, freq="h")
    return pd.DataFrame({"a": np.arange(n, dtype=float), "b": np.linspace(0, 1, n), "note": ["x"] * n}, index=t)


def _import(ki, raw, **meta):
    return ki.import_dataset({"data_import": {"raw_data": raw, "meta": {"name": "s", "min_rows": 1, **meta}}})


def test_dataframe_with_datetime_index_gaps_nans_unsorted_and_duplicates(ki, exp_dir):
    df = _frame(40)
    df = df.drop(index=df.index[10:13])  # a time gap -> a new slice
    df.iloc[20, 0] = np.nan  # a missing value -> the row goes, the slice is cut
    shuffled = pd.concat([df.iloc[::-1], df.iloc[[5, 6]]])  # unsorted + 2 duplicate timestamps
    with pytest.warns(UserWarning, match="dropped 2 rows with duplicate timestamps"):
        summary = _import(ki, shuffled)
    assert summary["components"] == ["a", "b"]  # numeric columns only
    assert summary["time_step"] == "1 h" and summary["freq"] == "h"
    assert summary["dropped_rows"] == {"of": 39, "duplicate": 2, "missing": 1}
    assert summary["n_rows"] == 36
    data = DatasetStore(exp_dir).load_series("s")
    assert data.slices[:, 2].tolist() == [10, 10, 16]  # hours 0-9 | 13-22 | 24-39 (hour 23 was NaN)
    assert np.all(np.diff(data.times) > 0)
    np.testing.assert_array_equal(data.values[:10, 0], np.arange(10))
    assert sorted(p.name for p in (exp_dir / "datasets" / "s").iterdir()) == ["meta.json", "times.npy", "values.npy"]


def test_interpolation_keeps_one_slice(ki, exp_dir):
    df = _frame(20)
    df.iloc[5:7, 0] = np.nan
    _import(ki, df, nan_handling="linear")
    data = DatasetStore(exp_dir).load_series("s")
    assert data.slices[:, 2].tolist() == [20]
    np.testing.assert_allclose(data.values[:, 0], np.arange(20))


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_files_with_time_and_instance_columns(ki, exp_dir, tmp_path, suffix):
    rows = []
    for inst in ("u1", "u2"):
        for k in range(15):
            rows.append({"when": k * 0.5, "unit": inst, "x": k + (100 if inst == "u2" else 0), "y": -k})
    frame = pd.DataFrame(rows)
    path = tmp_path / f"d.{suffix}"
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
    summary = _import(ki, str(path), time_column="when", instance_column="unit", targets=["y"])
    assert summary["instances"] == ["u1", "u2"] and summary["time_delta"] == 0.5
    assert summary["n_slices"] == 2 and summary["targets"] == ["y"]
    data = DatasetStore(exp_dir).load_series("s")
    np.testing.assert_array_equal(data.values[15:, 0], np.arange(100, 115))


def test_string_labels_mapping_and_class_counts(ki, exp_dir):
    df = _frame(30)
    df["label"] = ["hi", "lo", "lo"] * 10
    summary = _import(ki, df, labels=["label"], targets=["label"])
    assert summary["categories"] == {"label": ["hi", "lo"]}
    assert summary["class_counts"] == {"label": {"hi": 10, "lo": 20}}
    data = DatasetStore(exp_dir).load_series("s")
    np.testing.assert_array_equal(data.values[:6, 2], [0, 1, 1, 0, 1, 1])
    meta = json.loads((exp_dir / "datasets" / "s" / "meta.json").read_text())
    assert meta["categories"]["label"] == ["hi", "lo"]


def test_available_and_summarize(ki):
    _import(ki, _frame(10))
    assert {"s", "synth_regression", "synth_frames"} <= set(ki.available_datasets())
    assert ki.summarize_dataset("synth_regression")["instances"] == ["unit0", "unit1", "unit2"]


def test_cli_import_and_describe(exp_dir, tmp_path, cli_main):
    path = tmp_path / "d.csv"
    _frame(25).rename_axis("time").reset_index().to_csv(path, index=False)
    short = cli_main(["import", str(path), "--name", "fromcli", "--targets", "b"], cwd=tmp_path, exp_dir=exp_dir)
    assert short.returncode == 2 and "longest contiguous slice of 'fromcli' has 25 rows, fewer than 32" in short.stderr
    assert "set --min-rows to import it anyway" in short.stderr  # the flag once, not "--min-rows (--min-rows)"
    done = cli_main(["import", str(path), "--name", "fromcli", "--targets", "b", "--min-rows", "25"], cwd=tmp_path, exp_dir=exp_dir)
    assert done.returncode == 0, done.stderr
    assert "n_rows: 25" in done.stdout and "time_step: 1 h" in done.stdout
    listed = cli_main(["datasets", "fromcli"], cwd=tmp_path, exp_dir=exp_dir)
    assert listed.returncode == 0 and "targets: ['b']" in listed.stdout
    again = cli_main(["import", str(path), "--name", "fromcli", "--min-rows", "1"], cwd=tmp_path, exp_dir=exp_dir)
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
