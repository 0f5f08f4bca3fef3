"""Every architecture, shipped or new, honours the same plugin contract: both tasks with the right
shapes, a gradient for every parameter, the same weights and outputs from the same seed, a Captum
attribution, and a checkpoint that round-trips through ``torch.load(weights_only=True)``."""
from __future__ import annotations

import importlib

import pytest
import torch

from knowit import registry
from knowit.config.validate import build
from knowit.results.load import load_weights, read_checkpoint
from knowit.training.module import KnowItModule

# Tiny settings per arch (dropout 0 so every parameter's gradient is non-zero), and its sample shape.
TINY = {
    "lstm": ([6, 3], {"width": 4, "dropout": 0.0}),
    "cnn_lstm": ([2, 1, 6, 6], {"conv_channels": [2], "lstm_hidden": 4, "lstm_layers": 1}),
    "convlstm1d": ([3, 5, 2], {"filters": [2]}),
    "mlp": ([6, 3], {"depth": 2, "width": 8, "dropout": 0.0}),
    "cnn": ([6, 3], {"num_filters": 4, "dropout": 0.0}),
    "tcn": ([6, 3], {"num_filters": 4, "dropout": 0.0}),
    "transformer": ([6, 3], {"d_model": 8, "n_heads": 2, "depth": 1, "feedforward": 8, "dropout": 0.0}),
    "tft": ([6, 3], {"hidden_size": 8, "n_heads": 2, "dropout": 0.0}),
}
OUTPUT = {"regression": [2, 3], "classification": [4]}
BATCH = 5


def test_every_shipped_arch_is_covered():
    assert sorted(TINY) == registry.available_archs()


def make(name: str, task: str, seed: int = 0, **overrides) -> torch.nn.Module:
    module = registry.resolve(name)
    input_dim, args = TINY[name]
    torch.manual_seed(seed)
    return module.Model(list(input_dim), OUTPUT[task], task, build(module.ArchArgs, {**args, **overrides}, "arch"))


def batch(name: str, seed: int = 1) -> torch.Tensor:
    return torch.randn(BATCH, *TINY[name][0], generator=torch.Generator().manual_seed(seed))


CASES = [(name, task) for name in TINY for task in OUTPUT]


@pytest.mark.parametrize("name, task", CASES)
def test_output_shape_and_a_gradient_for_every_parameter(name, task):
    model = make(name, task).train()
    out = model(batch(name))
    assert out.shape == (BATCH, *OUTPUT[task])
    if task == "classification":
        loss = torch.nn.functional.cross_entropy(out, torch.arange(BATCH) % OUTPUT[task][0])
    else:
        loss = torch.nn.functional.mse_loss(out, torch.randn_like(out))
    loss.backward()
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and float(p.grad.abs().sum()) > 0, f"{name}: no gradient reaches {pname}"


@pytest.mark.parametrize("name", TINY)
def test_same_seed_same_model_other_seed_another(name):
    x = batch(name)
    a, b, c = (make(name, "regression", seed).eval() for seed in (3, 3, 4))
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
        assert not torch.allclose(a(x), c(x))


@pytest.mark.parametrize("name", TINY)
def test_captum_attribution_runs(name):
    from knowit.interpret.attribution import Explained, attribute

    model = make(name, "classification").eval()
    x = batch(name)
    result = attribute(Explained(model).eval(), "IntegratedGradients", x, torch.zeros(BATCH, dtype=torch.long),
                       baseline=torch.zeros_like(x[:1]), distribution=None, states=None, multiply_by_inputs=True, n_steps=4)
    assert result.shape == x.shape and torch.isfinite(result).all() and float(result.detach().abs().sum()) > 0


@pytest.mark.parametrize("name, task", CASES)
def test_checkpoint_round_trip_with_weights_only(name, task, tmp_path):
    input_dim, args = TINY[name]
    torch.manual_seed(0)
    module = KnowItModule(arch_module=name, arch_args=args, input_dim=input_dim, output_dim=OUTPUT[task], task=task,
                          loss_fn="cross_entropy" if task == "classification" else "mse_loss", performance_metrics=[])
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}, path)
    ckpt = read_checkpoint(path)  # torch.load(weights_only=True) inside
    loaded = load_weights(KnowItModule(**ckpt["hyper_parameters"]), ckpt["state_dict"], path)  # the test's own hparams: trusted
    x = batch(name)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), module.eval().model(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["cnn", "tcn", "transformer", "tft"])
def test_window_archs_refuse_image_sequences_with_one_line(name):
    from knowit.errors import KnowItConfigError

    module = importlib.import_module(f"knowit.default_archs.{name}")
    with pytest.raises(KnowItConfigError, match=r"^data\.name: .*\(in_len, n_in\).*\[2, 1, 6, 6\]"):
        module.Model([2, 1, 6, 6], [3], "classification", None)


def test_mlp_flattens_any_sample_shape_but_refuses_another_at_run_time():
    from knowit.errors import KnowItDataError

    model = registry.resolve("mlp").Model([2, 1, 6, 6], [3], "classification", {"width": 4})
    assert model(torch.randn(BATCH, 2, 1, 6, 6)).shape == (BATCH, 3)
    with pytest.raises(KnowItDataError, match=r"MLP input must be \(batch, 2, 1, 6, 6\)"):
        model(torch.randn(BATCH, 2, 1, 6, 5))
