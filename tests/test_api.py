"""The Python door: train through real Lightning into a real run directory, reload, reproduce."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from knowit import KnowIt, KnowItRunError
from knowit.results.load import read_checkpoint

from conftest import TINY_ARCH, TINY_TRAINER, tree_digest

KWARGS = {"data": {"name": "synth_regression"}, "arch": {"name": TINY_ARCH}, "trainer": dict(TINY_TRAINER, max_epochs=2)}


def test_train_writes_the_run_directory(ki: KnowIt) -> None:
    result = ki.train_model("m", KWARGS, and_viz=True)
    run = result.run_dir
    assert run == ki.exp_dir / "models" / "m"
    for name in ("config.yaml", "metrics.csv", "summary.json", "scalers.json", "checkpoints/last.ckpt", "visualizations/learning_curves.png",
                 "predictions/test.parquet", "visualizations/predicted_vs_true_test.png"):
        assert (run / name).is_file(), name
    assert result.best_checkpoint is not None and result.best_checkpoint.parent == run / "checkpoints"
    lines = (run / "metrics.csv").read_text().strip().splitlines()
    assert len(lines) == 3  # header + one row per epoch
    assert {"epoch", "train_loss_scaled", "valid_loss_scaled", "epoch_time"} <= set(lines[0].split(","))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 2
    assert summary["n_parameters"] == sum(p.numel() for p in KnowIt.load(run).model.parameters())
    assert set(result.metrics) >= {"valid_loss_scaled", "test_loss_scaled", "valid_mae", "test_mae"}
    assert all(np.isfinite(v) for v in result.metrics.values())
    assert not (run / ".lock").exists()


def test_classification_logs_accuracy(ki: KnowIt) -> None:
    # the whole test set, so the logged accuracy can be recomputed from the saved predictions
    kwargs = {"data": {"name": "synth_classification"}, "arch": {"name": TINY_ARCH}, "trainer": {**TINY_TRAINER, "limit_test_batches": 1.0}}
    result = ki.train_model("c", kwargs)
    header = (result.run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "train_accuracy" in header and "valid_accuracy" in header
    frame = ki.generate_predictions("c", {"predictor": {"prediction_set": "test"}})
    assert len(frame) > 0
    recomputed = float((frame["target"].to_numpy() == frame["prediction"].to_numpy()).mean())
    assert result.metrics["test_accuracy"] == pytest.approx(recomputed, abs=1e-6)
    assert ki.evaluate("c", "test")["test_accuracy"] == pytest.approx(recomputed, abs=1e-6)


def test_same_seed_same_metrics(ki: KnowIt) -> None:
    a = ki.train_model("a", KWARGS).metrics
    b = ki.train_model("b", KWARGS).metrics
    assert a == b
    c = ki.train_model("c", KWARGS, overrides=["seed=7"]).metrics
    assert c != a


def test_safe_mode_refuses_and_touches_nothing(ki: KnowIt) -> None:
    ki.train_model("m", KWARGS)
    before = tree_digest(ki.exp_dir)
    with pytest.raises(KnowItRunError, match=r"^model_name: a run already exists"):
        ki.train_model("m", KWARGS)
    assert tree_digest(ki.exp_dir) == before
    ki.train_model("m", KWARGS, safe_mode=False)  # explicit consent replaces it


def test_checkpoint_is_plain_and_reload_reproduces_predictions(ki: KnowIt) -> None:
    result = ki.train_model("m", KWARGS)
    ckpt = read_checkpoint(result.best_checkpoint)  # torch.load(weights_only=True)
    hp = ckpt["hyper_parameters"]
    assert hp["arch_module"] == TINY_ARCH and hp["input_dim"] == [16, 4]
    loaded = KnowIt.load(result.run_dir)
    x = torch.randn(5, 16, 4)
    again = KnowIt.load(result.run_dir)
    assert torch.equal(loaded.predict_batch(x), again.predict_batch(x))
    # the same weights as the module that trained: compare with a fresh load of the state dict
    state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, state[name])


def test_available_lists(ki: KnowIt) -> None:
    from knowit import registry

    assert {"synth_regression", "synth_classification"} <= set(ki.available_datasets())
    archs = KnowIt.available_archs()
    assert {"lstm", "cnn_lstm", "convlstm1d"} <= set(archs) and archs == sorted(archs)
    for name in archs:  # every listed name resolves to a plugin with the contract's parts
        module = registry.resolve(name)
        assert hasattr(module, "ArchArgs") and hasattr(module, "Model") and registry.supported_tasks(module), name


def test_load_rejects_a_directory_that_is_not_a_run(tmp_path) -> None:
    with pytest.raises(KnowItRunError, match="no config.yaml"):
        KnowIt.load(tmp_path)
