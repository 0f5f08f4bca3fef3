"""The LSTM architecture: shapes for every option, initial states, and stateful tracking checked
against running a whole stream through ``nn.LSTM`` at once."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from knowit import KnowItConfigError
from knowit.data.sampling import ContiguousBatchSampler
from knowit.default_archs.lstm import Model
from tests.conftest import TINY_TRAINER

IN = [12, 3]


def model(task="regression", output_dim=(4, 2), **args) -> Model:
    internal = args.pop("internal_state", None)
    torch.manual_seed(0)
    m = Model(IN, list(output_dim), task, {"width": 8, "dropout": 0.0, **args}, internal)
    return m.eval()


@pytest.mark.parametrize(
    "task, output_dim, head, bidirectional, depth, activation",
    [
        (t, o, h, b, d, a)
        for (t, o), h, b, d, a in itertools.product(
            [("regression", (4, 2)), ("regression", (1, 1)), ("classification", (5,))],
            ["last", "sequence"], [False, True], [1, 2], [None, "Tanh", "softmax"],
        )
    ],
)
def test_output_shapes_for_every_option(task, output_dim, head, bidirectional, depth, activation):
    m = model(task, output_dim, head=head, bidirectional=bidirectional, depth=depth, output_activation=activation)
    y = m(torch.randn(6, *IN))
    assert y.shape == (6, *output_dim)
    if activation == "Tanh":
        assert y.abs().max() <= 1
    if activation == "softmax":
        torch.testing.assert_close(y.sum(-1), torch.ones(y.shape[:-1]))


def test_zeros_init_equals_plain_lstm_and_tensor_init_broadcasts():
    x = torch.randn(5, *IN)
    m = model()
    out, _ = m.lstm_layers(x)  # nn.LSTM's own default: zero states
    torch.testing.assert_close(m(x), m.model_output(out[:, -1]).view(5, 4, 2))
    h = torch.randn(1, 8)
    c = torch.randn(1, 8)
    mt = model(internal_state={"init_hidden_state": h.tolist(), "init_cell_state": c.tolist()})
    out, _ = mt.lstm_layers(x, (h[:, None].expand(1, 5, 8).contiguous(), c[:, None].expand(1, 5, 8).contiguous()))
    torch.testing.assert_close(mt(x), mt.model_output(out[:, -1]).view(5, 4, 2))


def test_per_row_tensor_init_uses_the_first_rows():
    h = torch.randn(1, 6, 8)
    m = model(internal_state={"init_hidden_state": h.tolist()})
    x = torch.randn(4, *IN)
    out, _ = m.lstm_layers(x, (h[:, :4].contiguous(), torch.zeros(1, 4, 8)))
    torch.testing.assert_close(m(x), m.model_output(out[:, -1]).view(4, 4, 2))


def test_random_init_is_reproducible_from_the_seed():
    x = torch.randn(3, *IN)
    outs = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        m = Model(IN, [4, 2], "regression", {"width": 8, "dropout": 0.0, "internal_state": {"init_hidden_state": "random", "init_cell_state": "random"}})
        m.load_state_dict(model().state_dict())
        outs.append(m.eval()(x))
    torch.testing.assert_close(outs[0], outs[1])
    assert not torch.allclose(outs[0], outs[2])


def test_learned_init_is_trained():
    m = model(internal_state={"init_hidden_state": "learned", "init_cell_state": "learned"})
    names = {n for n, _ in m.named_parameters()}
    assert {"_internal.learned_h0", "_internal.learned_c0"} <= names
    m(torch.randn(3, *IN)).sum().backward()
    assert m._internal.learned_h0.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "state, match",
    [("gaussian", "choose one of: null, zeros, random, learned"), ([[1.0, 2.0]], r"does not fit; expected \(d\*depth, width\) = \(1, 8\)")],
)
def test_invalid_init_options_name_the_key(state, match):
    with pytest.raises(KnowItConfigError, match=f"arch.internal_state.init_hidden_state: .*{match}"):
        model(internal_state={"init_hidden_state": state})


@pytest.mark.parametrize("depth", [1, 2])
def test_tracking_over_chunks_equals_the_whole_stream(depth):
    """K contiguous chunks with tracking give the outputs of one pass over the whole stream."""
    m = model(depth=depth, internal_state={"tracking": True})
    stream = torch.randn(3, 5 * IN[0], IN[1])
    whole, _ = m.lstm_layers(stream)
    with torch.no_grad():
        for k, chunk in enumerate(stream.split(IN[0], dim=1)):
            expected = m.model_output(whole[:, (k + 1) * IN[0] - 1]).view(3, 4, 2)
            torch.testing.assert_close(m(chunk), expected, atol=1e-5, rtol=1e-5)


def test_tracking_states_are_buffers_not_weights_and_bidirectional_shapes():
    m = model(bidirectional=True, depth=2, internal_state={"tracking": True})
    m(torch.randn(5, *IN))
    assert m._internal.h0.shape == (4, 5, 8) and m._internal.c0.shape == (4, 5, 8)
    assert not m._internal.h0.requires_grad
    assert not any("h0" in k or "c0" in k for k in m.state_dict())


def test_batch_size_change_and_reset_mask():
    m = model(internal_state={"tracking": True})
    x = torch.randn(4, *IN)
    with torch.no_grad():
        m(x)
        stored = m._internal.h0.clone()
        fresh = model()  # no tracking: starts from zeros every time
        y_next = torch.randn(6, *IN)
        out = m(y_next)  # rows 0-3 continue, rows 4-5 are new streams starting from zeros
        torch.testing.assert_close(out[4:], fresh(y_next)[4:])
        assert not torch.allclose(out[:4], fresh(y_next)[:4])
        # a short batch keeps the first rows' states
        m._internal.h0, m._internal.c0 = stored, m._internal.c0[:, :4]
        m.reset_states(torch.tensor([False, True]))
        z = torch.randn(2, *IN)
        out = m(z)
        torch.testing.assert_close(out[1], fresh(z)[1])  # reset row starts over
        assert not torch.allclose(out[0], fresh(z)[0])


def test_contiguous_sampler_streams_resets_and_coverage():
    # two slices: rows 0..39 and 50..69 (a gap), stride 4
    rows = np.concatenate([np.arange(0, 40), np.arange(50, 70)])
    slice_of = np.concatenate([np.zeros(40, int), np.ones(20, int)])
    sampler = ContiguousBatchSampler(rows, slice_of, 3, stride=4, vary_phase=True)
    seen = []
    for epoch in range(4):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        streams: dict[int, list[int]] = {}
        for positions, reset in batches:
            assert len(positions) <= 3 and reset.dtype == bool
            for i, (p, r) in enumerate(zip(positions, reset)):
                prev = streams.get(i)
                continues = prev is not None and rows[p] - rows[prev[-1]] == 4 and slice_of[p] == slice_of[prev[-1]]
                assert r == (not continues)
                streams.setdefault(i, []).append(p)
        for positions in streams.values():
            assert np.all(np.diff(rows[positions]) > 0)  # each stream moves forward in time
        seen.extend(p for ps, _ in batches for p in ps)
    assert sorted(seen) == list(range(len(rows)))  # every point once over `stride` epochs


def test_stateful_training_through_the_data_pipeline_matches_whole_stream(exp_dir):
    """Batches of the contiguous sampler fed to a tracking LSTM equal one pass over each stream."""
    from knowit.config.schema import DataConfig
    from knowit.data.datamodule import KnowItDataModule

    cfg = DataConfig(name="synth_regression", in_components=["x1", "x2", "x3"], out_components=["y1"], in_chunk=[-11, 0],
                     batch_size=4, batch_sampling="contiguous", split_portions=[0.6, 0.2, 0.2])
    dm = KnowItDataModule(cfg, exp_dir, 0)
    m = model(internal_state={"tracking": True})
    m.reset_states()
    outputs: list[torch.Tensor] = []
    inputs: list[torch.Tensor] = []
    with torch.no_grad():
        for batch in dm.val_dataloader():
            if inputs and bool(batch["reset"][0]):
                break  # stream 0 jumped: compare the part read so far
            m.reset_states(batch["reset"])
            outputs.append(m(batch["x"])[0])
            inputs.append(batch["x"][0])
    assert len(inputs) >= 3
    whole, _ = m.lstm_layers(torch.cat(inputs)[None])
    expected = m.model_output(whole[0, IN[0] - 1 :: IN[0]]).view(len(inputs), 4, 2)
    torch.testing.assert_close(torch.stack(outputs), expected, atol=1e-5, rtol=1e-5)


def test_tracking_needs_contiguous_batches_and_trains(ki):
    arch = {"name": "lstm", "width": 8, "internal_state": {"tracking": True}}
    with pytest.raises(KnowItConfigError, match="data.batch_sampling: .*needs data.batch_sampling=contiguous"):
        ki.train_model("shuffled", {"arch": arch, "trainer": TINY_TRAINER})
    result = ki.train_model("stateful", {"data": {"batch_sampling": "contiguous", "batch_size": 8}, "arch": arch, "trainer": TINY_TRAINER})
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and np.isfinite(result.metrics["test_loss_scaled"])
