"""What each new architecture promises beyond the shared contract (tests/test_arch_contract.py):
the CNN's automatic depth, the TCN's causality and receptive field, the transformer's pooling and
fused attention, the TFT's explanations."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from knowit.default_archs import cnn, tcn, tft, transformer
from knowit.errors import KnowItDataError, KnowItRunError
from knowit.layers.temporal_conv import receptive_field

from conftest import TINY_TRAINER


@pytest.mark.parametrize("in_len, depth", [(3, 1), (4, 2), (7, 2), (8, 3), (40, 5)])
def test_cnn_auto_depth_is_the_fewest_blocks_covering_the_window(in_len, depth):
    model = cnn.Model([in_len, 2], [1, 1], "regression", {"num_filters": 8, "activations": "Tanh"})
    assert model.depth == depth and len(model.blocks) == depth
    assert receptive_field(3, 2, depth) >= in_len
    assert depth == 1 or receptive_field(3, 2, depth - 1) < in_len
    # Non-causal and covering: the middle step's output depends on every step of the window.
    x = torch.randn(1, 2, in_len, requires_grad=True)
    model.blocks.eval()(x)[0, :, (in_len - 1) // 2].sum().backward()
    assert bool((x.grad[0].abs().sum(0) > 0).all()), x.grad


@pytest.mark.parametrize("depth, kernel, base", [(1, 3, 2), (2, 3, 2), (2, 2, 3)])
def test_tcn_is_causal_and_sees_exactly_its_receptive_field(depth, kernel, base):
    in_len = 40
    model = tcn.Model([in_len, 2], [1, 1], "regression", {"num_filters": 8, "depth": depth, "kernel_size": kernel, "dilation_base": base, "activations": "Tanh"})
    x = torch.randn(1, in_len, 2, requires_grad=True)
    model.eval()(x).sum().backward()
    seen = (x.grad[0].abs().sum(1) > 0).nonzero().ravel()
    assert model.receptive_field == receptive_field(kernel, base, depth, 2)
    assert seen.min().item() == in_len - model.receptive_field and seen.max().item() == in_len - 1


def test_tcn_warns_when_the_window_outgrows_its_receptive_field(caplog):
    with caplog.at_level(logging.WARNING, logger="knowit"):
        tcn.Model([20, 2], [1, 1], "regression", {"depth": 1})
    assert "receptive field is 5 steps but the window has 20" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="knowit"):
        tcn.Model([20, 2], [1, 1], "regression", {"depth": "auto"})
    assert "receptive field" not in caplog.text


def test_tcn_receptive_field_is_in_the_run_summary(ki):
    result = ki.train_model("tcn", {"arch": {"name": "tcn", "num_filters": 4, "depth": 2}, "trainer": TINY_TRAINER})
    import json

    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["arch_info"] == {"depth": 2, "receptive_field": 13, "window": 16} and summary["status"] == "completed"


@pytest.mark.parametrize("pooling", transformer.POOLINGS)
@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_transformer_poolings_and_positions(pooling, positions):
    torch.manual_seed(0)
    model = transformer.Model([6, 3], [2, 1], "regression", {"d_model": 8, "n_heads": 2, "depth": 1, "pooling": pooling,
                                                            "positions": positions, "dropout": 0.0}).eval()
    x = torch.randn(4, 6, 3)
    assert model(x).shape == (4, 2, 1)
    # Positions make the order matter: reversing the window changes the output.
    assert not torch.allclose(model(x), model(x.flip(1)))
    if positions == "learned":
        with pytest.raises(KnowItDataError, match="learned positions cover"):
            model(torch.randn(4, 12, 3))
    else:
        assert model(torch.randn(4, 12, 3)).shape == (4, 2, 1)  # any window length


def test_transformer_trains_through_scaled_dot_product_attention():
    model = transformer.Model([6, 3], [2], "classification", {"d_model": 8, "n_heads": 2, "depth": 1}).train()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        model(torch.randn(4, 6, 3)).sum().backward()
    names = {event.key for event in prof.key_averages()}
    assert "aten::scaled_dot_product_attention" in names, sorted(n for n in names if "attention" in n)


def test_tft_explain_weights_after_a_forward():
    model = tft.Model([6, 3], [2], "classification", {"hidden_size": 8, "n_heads": 2}).eval()
    with pytest.raises(KnowItRunError, match="run a forward first"):
        model.explain()
    model(torch.randn(5, 6, 3))
    weights = model.explain()
    assert weights["variable_weights"].shape == (5, 6, 3) and weights["attention"].shape == (5, 6, 6)
    torch.testing.assert_close(weights["variable_weights"].sum(-1), torch.ones(5, 6))
    torch.testing.assert_close(weights["attention"].sum(-1), torch.ones(5, 6))
    assert float(weights["attention"].triu(1).abs().sum()) == 0  # causal: no step attends to a later one


def test_interpret_saves_the_tft_weights_of_the_chosen_points_beside_captum(ki):
    """y(t) = 2 * x1(t - 2); interpret saves the TFT's explain() weights beside the attributions."""
    rng = np.random.default_rng(0)
    import pandas as pd

    x = rng.normal(size=(600, 3))
    y = np.zeros(600)
    y[2:] = 2.0 * x[:-2, 1]
    frame = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "y": y}, index=pd.RangeIndex(600, name="t"))
    ki.import_dataset({"data_import": {"raw_data": frame.iloc[2:], "meta": {"name": "lag2"}}})
    data = {"name": "lag2", "task": "regression", "in_components": ["x0", "x1", "x2"], "out_components": ["y"],
            "in_chunk": [-3, 0], "out_chunk": [0, 0], "batch_size": 32}
    arch = {"name": "tft", "hidden_size": 8, "n_heads": 2, "dropout": 0.0}
    ki.train_model("tft", {"data": data, "arch": arch, "trainer": {"max_epochs": 1, "learning_rate": 0.01, "accelerator": "cpu"}})
    out = ki.interpret_model("tft", {"interpreter": {"interpretation_method": "IntegratedGradients", "size": 20, "seed": 1, "n_steps": 8}})
    selection = out.explanations["explain_variable_weights"]
    assert selection.shape == (20, 4, 3) and out.explanations["explain_attention"].shape == (20, 4, 4)
    saved = np.load(out.file, allow_pickle=False)
    assert np.array_equal(saved["explain_variable_weights"], selection) and saved["attributions"].shape == (20, 1, 4, 3)
    # They are the weights of the saved points' own forward, not of Captum's last batch.
    model = ki.load(ki.run_dir("tft")).model
    with torch.no_grad():
        model(torch.as_tensor(saved["inputs"]))
    np.testing.assert_allclose(model.explain()["variable_weights"].numpy(), selection, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.explain()["attention"].numpy(), saved["explain_attention"], rtol=1e-5, atol=1e-6)
    # Drawn too, beside the attribution heatmaps: attention heatmap and variable-selection bars.
    import matplotlib.image

    folder = ki.run_dir("tft") / "visualizations" / "interpretation"
    drawn = {p.name for p in out.plots}
    for plot in ("IntegratedGradients_valid_random_attention.png", "IntegratedGradients_valid_random_variable_selection.png"):
        assert plot in drawn and (folder / plot).is_file()
        height, width, _ = matplotlib.image.imread(folder / plot).shape
        assert height > 200 and width > 300


def test_explanation_plots_show_the_saved_weights():
    """The attention heatmap is the points' mean attention with the window's offsets on both axes;
    the bars are each component's mean selection weight, the heatmap beside them per step."""
    from knowit.plots.explanations import attention_figure, variable_selection_figure

    rng = np.random.default_rng(0)
    attention = rng.random((5, 3, 3)).astype(np.float32)
    weights = rng.dirichlet([1.0, 2.0], size=(5, 3)).astype(np.float32)  # (points, T, n_in), rows sum to 1
    arrays = {"explain_attention": attention, "explain_variable_weights": weights,
              "in_offsets": np.array([-2, -1, 0]), "in_components": np.array(["a", "b"])}
    fig = attention_figure(arrays, "tft")
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), attention.mean(0), rtol=1e-6)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["t-2", "t-1", "t"] == [t.get_text() for t in ax.get_yticklabels()]
    fig = variable_selection_figure(arrays, "tft")
    bars, heat = fig.axes[:2]
    np.testing.assert_allclose([p.get_width() for p in bars.patches], weights.mean(axis=(0, 1)), rtol=1e-6)
    assert [t.get_text() for t in bars.get_yticklabels()] == ["a", "b"]
    np.testing.assert_allclose(heat.images[0].get_array(), weights.mean(0).T, rtol=1e-6)
    import matplotlib.pyplot as plt

    plt.close("all")
