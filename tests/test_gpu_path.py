"""GPU-path options, exercised on CPU where they can be: torch.compile keeps checkpoints plain,
bf16-mixed trains, batches are pinned only for CUDA (or when asked). The CUDA-only test runs where
a GPU is present."""
from __future__ import annotations

import pytest
import torch

from knowit import KnowItConfigError
from tests.conftest import TINY_ARCH, TINY_TRAINER

LSTM = {"name": "lstm", "width": 8, "dropout": 0.0}
LINEAR = {"name": TINY_ARCH}


@pytest.mark.slow  # importing torch._dynamo alone takes ~10 s here
def test_compiled_arch_trains_and_its_checkpoint_loads_into_the_plain_model(ki):
    from knowit.results.load import load_run

    result = ki.train_model("c", {"arch": LINEAR, "trainer": {**TINY_TRAINER, "compile": "eager"}}, and_viz=False)
    assert result.status == "completed"
    state = torch.load(result.run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert state and not any("_orig_mod" in key for key in state)  # names of the plain model
    module = load_run(result.run_dir, checkpoint="last").module
    assert not hasattr(module.model, "_compiled_call_impl") or module.model._compiled_call_impl is None


def test_unknown_compile_backend_is_refused_before_anything_is_written(ki, exp_dir):
    with pytest.raises(KnowItConfigError, match=r"trainer.compile: 'fastest' is not a torch.compile backend; choose true \(inductor\)"):
        ki.train_model("c", {"arch": LSTM, "trainer": {**TINY_TRAINER, "compile": "fastest"}})
    assert not (exp_dir / "models").exists()


def test_bf16_mixed_trains_on_cpu(ki):
    result = ki.train_model("b", {"arch": LSTM, "trainer": {**TINY_TRAINER, "precision": "bf16-mixed"}}, and_viz=False)
    assert result.status == "completed"


def test_batches_are_pinned_only_for_cuda_unless_asked(exp_dir):
    from knowit.config.schema import DataConfig
    from knowit.data.datamodule import KnowItDataModule

    auto = KnowItDataModule(DataConfig(name="synth_regression"), exp_dir, 0)
    assert auto.train_dataloader().pin_memory is False  # no Trainer on CUDA: nothing to pin for
    asked = KnowItDataModule(DataConfig(name="synth_regression", pin_memory=True), exp_dir, 0)
    assert asked.train_dataloader().pin_memory is True


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_batches_arrive_pinned_and_training_runs(ki):
    from knowit.training.trainer import build_trainer  # noqa: F401 - the real path below builds it

    result = ki.train_model("g", {"arch": LSTM, "trainer": {**TINY_TRAINER, "accelerator": "gpu", "precision": "bf16-mixed"}}, and_viz=False)
    assert result.status == "completed"
