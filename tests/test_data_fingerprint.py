"""Data fingerprints: a stored dataset's content hash, recorded by every run with the software
versions; a changed dataset is warned about on evaluate/predict and refused on resume."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from knowit.data.store import DatasetStore
from knowit.errors import KnowItConfigError
from tests.conftest import TINY_ARCH, TINY_TRAINER


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"time": np.arange(200), "x": rng.normal(size=200), "y": rng.normal(size=200)})


def _import(ki, seed: int) -> None:
    ki.import_dataset({"data_import": {"raw_data": _frame(seed), "meta": {"name": "fp", "targets": ["y"]}}}, overwrite=True)


KWARGS = {"data": {"name": "fp", "in_components": ["x"], "out_components": ["y"], "in_chunk": [-3, 0]}, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER}


def test_hash_depends_on_content_only(ki, exp_dir):
    store = DatasetStore(exp_dir)
    _import(ki, 0)
    first = store.content_hash("fp")
    _import(ki, 0)
    assert store.content_hash("fp") == first and len(first) == 64
    _import(ki, 1)
    assert store.content_hash("fp") != first


def test_run_records_hash_and_versions_and_a_changed_dataset_is_noticed(ki, exp_dir):
    import torch

    _import(ki, 0)
    ki.train_model("fp_run", KWARGS)
    summary = json.loads((exp_dir / "models" / "fp_run" / "summary.json").read_text())
    assert summary["data_hash"] == DatasetStore(exp_dir).content_hash("fp")
    assert summary["versions"]["torch"] == torch.__version__ and set(summary["versions"]) >= {"knowit", "torch", "lightning"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # unchanged data: no warning
        ki.evaluate("fp_run", "valid")
    _import(ki, 1)  # re-imported under the same name with other contents
    with pytest.warns(UserWarning, match="dataset 'fp' has changed since this run trained on it"):
        ki.evaluate("fp_run", "valid")
    with pytest.warns(UserWarning, match="has changed since"):
        ki.generate_predictions("fp_run", {"predictor": {"prediction_set": "test"}})
    more = {**KWARGS, "trainer": {**TINY_TRAINER, "max_epochs": 2}}
    with pytest.raises(KnowItConfigError, match="trainer.resume: dataset 'fp' has changed .*trainer.resume_changed_data=true"):
        ki.train_model("fp_run", more, resume=True)
    result = ki.train_model("fp_run", {**more, "trainer": {**more["trainer"], "resume_changed_data": True}}, resume=True)
    assert result.status == "completed"
