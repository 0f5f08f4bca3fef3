"""Real-data conformance: fixtures with the shapes of public archives and business data, each
imported through the CLI as a user would and (where it has signal) trained a few tiny epochs.

Asserts what goes wrong silently otherwise: slice counts of calendar series (leap years,
month lengths, weekends and DST changes are not gaps), set class coverage of class-sorted
archives, metrics in original units, and a model that beats the naive baseline.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from knowit import KnowIt
from knowit.data.store import DatasetStore
from tests.conftest import TINY_ARCH

TRAIN = {"max_epochs": 4, "accelerator": "cpu", "learning_rate": 0.01}


def _import(cli_main, tmp_path: Path, exp_dir: Path, frame_or_arrays, name: str, *args: str) -> str:
    if isinstance(frame_or_arrays, dict):
        path = tmp_path / f"{name}.npz"
        np.savez(path, **frame_or_arrays)
    else:
        path = tmp_path / f"{name}.csv"
        frame_or_arrays.to_csv(path, index=False)
    out = cli_main(["import", str(path), "--name", name, *args, "--exp-dir", str(exp_dir)], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _calendar_frame(index, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(index)
    return pd.DataFrame({"date": index.strftime("%Y-%m-%dT%H:%M:%S%z") if index.tz is not None else index.strftime("%Y-%m-%d"),
                         "x": rng.normal(size=n), "y": np.cumsum(rng.normal(size=n))})


CALENDARS = [  # (id, index, freq stored, step in words, slices)
    ("yearly-start", pd.date_range("1701-01-01", periods=300, freq="YS"), "YS-JAN", "1 year", 1),
    ("monthly-end", pd.date_range("2001-01-31", periods=120, freq="ME"), "ME", "1 month", 1),
    ("business-day", pd.date_range("2020-01-01", periods=200, freq="B"), "B", "1 business day", 1),
    ("hourly-across-dst", pd.date_range("2021-03-26", periods=24 * 5, freq="h", tz="Europe/Berlin"), "h", "1 h", 1),
    ("monthly-missing-one", pd.date_range("2001-01-01", periods=100, freq="MS").delete(60), "MS", "1 month", 2),
]


@pytest.mark.parametrize("index, freq, words, n_slices", [c[1:] for c in CALENDARS], ids=[c[0] for c in CALENDARS])
def test_calendar_series_are_regular(cli_main, tmp_path, exp_dir, index, freq, words, n_slices):
    out = _import(cli_main, tmp_path, exp_dir, _calendar_frame(index), "cal", "--time-column", "date", "--targets", "y")
    assert f"time_step: {words}" in out and f"freq: {freq}" in out, out
    data = DatasetStore(exp_dir).load_series("cal")
    assert data.freq == freq and len(data.slices) == n_slices
    if n_slices == 2:  # cut exactly at the missing month
        assert data.slices[:, 2].tolist() == [60, 39]


def test_monthly_series_trains_in_original_units_and_beats_persistence(cli_main, tmp_path, exp_dir):
    rng = np.random.default_rng(1)
    index = pd.date_range("1990-01-31", periods=360, freq="ME")
    driver = rng.normal(size=len(index))
    sales = 500.0 + 40.0 * np.roll(driver, 1) + rng.normal(scale=4.0, size=len(index))  # driven by last month's x
    frame = pd.DataFrame({"month": index.strftime("%Y-%m-%d"), "x": driver, "sales": sales})
    _import(cli_main, tmp_path, exp_dir, frame, "monthly", "--time-column", "month", "--targets", "sales")
    ki = KnowIt(exp_dir)
    data = {"name": "monthly", "in_components": ["x"], "in_chunk": [-3, 0]}
    result = ki.train_model("monthly_run", {"data": data, "arch": {"name": TINY_ARCH, "hidden": 16}, "trainer": {**TRAIN, "max_epochs": 10}})
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["warnings"] == [] and summary["units"]["metrics"] == "original units"
    assert summary["data"]["time_range"]["train"][0] == "1990-04-30 00:00:00"  # real dates: the 4th month end
    frame = ki.generate_predictions("monthly_run", {"predictor": {"prediction_set": "test"}})
    assert summary["metrics"]["test_mae"] == pytest.approx(float(np.abs(frame["prediction"] - frame["target"]).mean()), rel=1e-4)
    assert pd.api.types.is_datetime64_any_dtype(frame["time"]) and frame["time"].dt.is_month_end.all()
    assert summary["baselines"]["skill"]["persistence"]["mae"] > 0.3  # the model beats last month's value


def _class_sorted_archive(rng, n_per_class: int, classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    y = np.repeat(np.arange(classes), n_per_class)  # stored sorted by class, as public archives are
    t = np.arange(16)
    x = np.stack([np.sin(2 * np.pi * (k + 1) * t / 16) for k in y])[..., None] + rng.normal(scale=0.3, size=(len(y), 16, 1))
    return x.astype(np.float32), y


def test_class_sorted_archive_gets_representative_sets_and_beats_the_majority_class(cli_main, tmp_path, exp_dir):
    rng = np.random.default_rng(2)
    x, y = _class_sorted_archive(rng, 30)
    x_test, y_test = _class_sorted_archive(rng, 10)
    out = _import(cli_main, tmp_path, exp_dir, {"x": x, "y": y, "x_test": x_test, "y_test": y_test}, "archive")
    assert "class_order: sorted by class: 0 x30, 1 x30, 2 x30, 3 x30" in out
    ki = KnowIt(exp_dir)
    result = ki.train_model("archive_run", {"data": {"name": "archive", "task": "classification", "batch_size": 16},
                                            "arch": {"name": TINY_ARCH, "hidden": 16}, "trainer": {**TRAIN, "max_epochs": 10}})
    summary = json.loads((result.run_dir / "summary.json").read_text())
    counts = summary["data"]["class_counts"]
    assert counts["valid"] == {"0": 6, "1": 6, "2": 6, "3": 6} and counts["train"] == {"0": 24, "1": 24, "2": 24, "3": 24}
    assert summary["warnings"] == []
    assert summary["metrics"]["test_accuracy"] > 0.6  # majority class: 0.25
    assert summary["baselines"]["skill"]["majority_class"]["error_rate"] > 0.3


def test_stored_order_split_of_a_sorted_archive_is_flagged(tmp_path, exp_dir):
    rng = np.random.default_rng(3)
    x, y = _class_sorted_archive(rng, 10)
    ki = KnowIt(exp_dir)
    ki.import_dataset({"data_import": {"raw_data": {"x": x, "y": y}, "meta": {"name": "sorted"}}})
    from knowit.config.schema import DataConfig
    from knowit.data.datamodule import KnowItDataModule

    dm = KnowItDataModule(DataConfig(name="sorted", task="classification", split_method="chronological"), exp_dir, 0)
    assert "the valid set lacks classes present in training: 0, 1" in dm.warnings
    assert any(w.startswith("the test set holds a single class (3)") for w in dm.warnings)


def test_string_labels_series_classification(cli_main, tmp_path, exp_dir):
    rng = np.random.default_rng(4)
    n = 400
    x = rng.normal(size=n)
    label = np.where(x > 0, "up", "down")  # the label says the sign of x now
    frame = pd.DataFrame({"time": np.arange(n), "x": x, "noise": rng.normal(size=n), "state": label})
    out = _import(cli_main, tmp_path, exp_dir, frame, "states", "--labels", "state", "--targets", "state")
    assert "categories: {'state': ['down', 'up']}" in out
    ki = KnowIt(exp_dir)
    data = {"name": "states", "task": "classification", "in_components": ["x", "noise"], "in_chunk": [-2, 0]}
    ki.train_model("states_run", {"data": data, "arch": {"name": TINY_ARCH}, "trainer": TRAIN})
    frame = ki.generate_predictions("states_run", {"predictor": {"prediction_set": "test"}})
    assert set(frame["target"]) == {"down", "up"} and (frame["prediction"] == frame["target"]).mean() > 0.8
