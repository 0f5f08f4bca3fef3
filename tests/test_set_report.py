"""Per-set diagnostics: class counts / target summaries and the warnings they raise."""
from __future__ import annotations

import numpy as np
import pandas as pd

from knowit.config.schema import DataConfig
from knowit.data.datamodule import KnowItDataModule
from knowit.data.set_report import class_warnings, range_warnings, target_summary


def test_class_warnings_name_missing_and_single_classes():
    counts = {"train": {"a": 5, "b": 5, "c": 0}, "valid": {"a": 3, "b": 0, "c": 2}, "test": {"a": 0, "b": 4, "c": 0}}
    assert class_warnings(counts) == [
        "the valid set lacks classes present in training: b",
        "the test set lacks classes present in training: a",
        "the test set holds a single class (b): its metrics say little about the others",
    ]
    assert class_warnings({"train": {"a": 5, "b": 5}, "valid": {"a": 1, "b": 1}, "test": {"a": 2, "b": 1}}) == []


def test_range_warning_only_when_far_outside_training():
    train = target_summary(np.linspace(0, 10, 50))
    near = {"train": train, "valid": target_summary(np.array([-1.0, 12.0])), "test": target_summary(np.array([2.0]))}
    assert range_warnings(near) == []
    far = {**near, "test": target_summary(np.array([14.0, 30.0]))}
    assert range_warnings(far) == ["the test set's targets span [14, 30], far outside training's [0, 10]: the model must extrapolate there"]


def test_trending_series_split_in_time_is_flagged_in_original_units(ki, exp_dir):
    t = np.arange(300)
    frame = pd.DataFrame({"time": t, "x": np.sin(t / 5.0), "y": 100.0 + 3.0 * t})  # a strong trend
    ki.import_dataset({"data_import": {"raw_data": frame, "meta": {"name": "trend", "targets": ["y"]}}})
    dm = KnowItDataModule(DataConfig(name="trend", in_components=["x"], in_chunk=[-3, 0]), exp_dir, 0)
    summary = dm.describe()["target_summary"]
    assert abs(summary["train"]["min"] - 109.0) < 1e-3  # original units, the first point has 3 rows before it
    assert any(w.startswith("the test set's targets span") for w in dm.warnings)
    assert dm.describe()["content_hash"] == dm.data_hash != ""
    assert dm.describe()["time_range"]["train"][0] == "3.0"  # numeric time: the first point's own time
