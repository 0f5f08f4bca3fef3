"""ConvLSTM1D: Keras semantics checked against the equations written plainly here and against
Keras 3 itself (torch backend), shapes for both data formats and return modes, every argument."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import itertools

import numpy as np
import pytest
import torch

from knowit import KnowItConfigError
from knowit.layers import ConvLSTM1D

RNG = np.random.default_rng(0)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference(x, kernel, recurrent, bias, *, strides=1, padding="valid", dilation=1, data_format="channels_last",
              go_backwards=False, return_sequences=False, act=np.tanh, rec_act=_sigmoid, out_act=None):
    """The ConvLSTM1D equations, one output row at a time, in Keras weight layout (no torch)."""
    out_act = out_act or act
    x = np.asarray(x, dtype=np.float64)
    if data_format == "channels_first":
        x = x.transpose(0, 1, 3, 2)  # -> (N, T, R, C)
    if go_backwards:
        x = x[:, ::-1]
    n, steps, rows, _ = x.shape
    k, _, f4 = kernel.shape
    f = f4 // 4
    span = (k - 1) * dilation + 1
    if padding == "same":
        out_rows = -(-rows // strides)
        total = max((out_rows - 1) * strides + span - rows, 0)
        pads = (total // 2, total - total // 2)
    elif padding == "valid":
        pads = (0, 0)
    else:
        pads = tuple(padding)
    xp = np.pad(x, ((0, 0), (0, 0), pads, (0, 0)))
    out_rows = (rows + sum(pads) - span) // strides + 1
    rk = recurrent.shape[0]
    rpads = ((rk - 1) // 2, rk - 1 - (rk - 1) // 2)
    h = np.zeros((n, out_rows, f))
    c = np.zeros((n, out_rows, f))
    seq = []
    for t in range(steps):
        hp = np.pad(h, ((0, 0), rpads, (0, 0)))
        z = np.zeros((n, out_rows, f4))
        for r in range(out_rows):
            for j in range(k):
                z[:, r] += xp[:, t, r * strides + j * dilation] @ kernel[j]
            for j in range(rk):
                z[:, r] += hp[:, r + j] @ recurrent[j]
        z += bias
        i, fg, g, o = z[..., :f], z[..., f:2 * f], z[..., 2 * f:3 * f], z[..., 3 * f:]
        c = rec_act(fg) * c + rec_act(i) * act(g)
        h = rec_act(o) * out_act(c)
        seq.append(h)
    out = np.stack(seq, 1) if return_sequences else h
    if data_format == "channels_first":
        out = np.swapaxes(out, -1, -2)
    return out


def _weights(k, c, f):
    return RNG.normal(0, 0.3, (k, c, 4 * f)), RNG.normal(0, 0.3, (k, f, 4 * f)), RNG.normal(0, 0.3, 4 * f)


CASES = [
    dict(padding=p, strides=s, dilation_rate=d, data_format=fmt, kernel_size=k)
    for p, s, d, fmt, k in itertools.product(["valid", "same", [2, 1]], [1, 2], [1, 2], ["channels_last", "channels_first"], [2, 3])
    if not (s > 1 and d > 1)
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_matches_the_plain_equations(case):
    c_in, f, rows = 3, 4, 11
    layer = ConvLSTM1D(c_in, f, return_sequences=True, **case)
    kernel, recurrent, bias = _weights(case["kernel_size"], c_in, f)
    layer.load_keras_weights(kernel, recurrent, bias)
    shape = (2, 5, rows, c_in) if case["data_format"] == "channels_last" else (2, 5, c_in, rows)
    x = RNG.normal(size=shape).astype(np.float32)
    expected = reference(x, kernel, recurrent, bias, strides=case["strides"], padding=case["padding"],
                         dilation=case["dilation_rate"], data_format=case["data_format"], return_sequences=True)
    got = layer(torch.from_numpy(x)).detach().numpy()
    assert got.shape == expected.shape == layer.output_shape(shape)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


KERAS_CASES = [
    dict(padding="valid", strides=1, dilation_rate=1, data_format="channels_last"),
    dict(padding="same", strides=2, dilation_rate=1, data_format="channels_last"),
    dict(padding="same", strides=1, dilation_rate=2, data_format="channels_first"),
    dict(padding="valid", strides=2, dilation_rate=1, data_format="channels_first"),
]


@pytest.mark.parametrize("case", KERAS_CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_matches_keras_itself(case, go_backwards):
    keras = pytest.importorskip("keras")
    c_in, f, rows, k = 3, 4, 10, 3
    ours = ConvLSTM1D(c_in, f, k, return_sequences=True, return_state=True, go_backwards=go_backwards, **case)
    theirs = keras.layers.ConvLSTM1D(f, k, return_sequences=True, return_state=True, go_backwards=go_backwards, **case)
    shape = (2, 6, rows, c_in) if case["data_format"] == "channels_last" else (2, 6, c_in, rows)
    x = RNG.normal(size=shape).astype(np.float32)
    theirs(x)  # build
    kernel, recurrent, bias = _weights(k, c_in, f)
    theirs.set_weights([kernel.astype(np.float32), recurrent.astype(np.float32), bias.astype(np.float32)])
    ours.load_keras_weights(kernel, recurrent, bias)
    expected = [np.asarray(keras.ops.convert_to_numpy(t)) for t in theirs(x)]
    got = [t.detach().numpy() for t in ours(torch.from_numpy(x))]
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("return_state", [True, False])
def test_output_shapes_follow_the_reference_table(data_format, return_sequences, return_state):
    samples, time, rows, channels, filters = 3, 7, 12, 2, 5
    layer = ConvLSTM1D(channels, filters, 3, strides=2, padding="valid", data_format=data_format,
                       return_sequences=return_sequences, return_state=return_state)
    x = torch.randn(samples, time, rows, channels) if data_format == "channels_last" else torch.randn(samples, time, channels, rows)
    out = layer(x)
    new_rows = (rows - 3) // 2 + 1
    spatial = (new_rows, filters) if data_format == "channels_last" else (filters, new_rows)
    expected = (samples, time, *spatial) if return_sequences else (samples, *spatial)
    if return_state:
        out, h, c = out
        assert tuple(h.shape) == tuple(c.shape) == (samples, *spatial)
        last = out[:, -1] if return_sequences else out
        assert torch.equal(last, h)
    assert tuple(out.shape) == expected


def test_output_activation_is_separate_from_the_candidate_activation():
    kernel, recurrent, bias = _weights(3, 2, 3)
    layer = ConvLSTM1D(2, 3, 3, padding="same", activation="tanh", output_activation="relu", recurrent_activation="hard_sigmoid")
    layer.load_keras_weights(kernel, recurrent, bias)
    x = RNG.normal(size=(2, 4, 6, 2)).astype(np.float32)
    hard = lambda v: np.clip((v + 3) / 6, 0, 1)  # noqa: E731
    expected = reference(x, kernel, recurrent, bias, padding="same", rec_act=hard, out_act=lambda v: np.maximum(v, 0))
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_initializers_unit_forget_bias_and_bias_switch():
    torch.manual_seed(0)
    layer = ConvLSTM1D(4, 8, 3)
    bias = layer.bias.detach()
    assert torch.all(bias[8:16] == 1) and torch.all(bias[:8] == 0) and torch.all(bias[16:] == 0)
    assert torch.all(ConvLSTM1D(4, 8, 3, unit_forget_bias=False).bias == 0)
    assert ConvLSTM1D(4, 8, 3, use_bias=False).bias is None
    # orthogonal recurrent kernel in Keras layout (K*F, 4F) = (24, 32): orthonormal rows
    flat = layer.recurrent_kernel.detach().permute(2, 1, 0).reshape(3 * 8, 32)
    torch.testing.assert_close(flat @ flat.T, torch.eye(24), atol=1e-5, rtol=0)
    limit = np.sqrt(6 / (3 * 4 + 3 * 32))  # glorot_uniform with Keras's conv fans
    assert layer.kernel.abs().max() <= limit and layer.kernel.abs().max() > 0.9 * limit
    he = ConvLSTM1D(4, 8, 3, kernel_initializer="he_normal", bias_initializer="ones", unit_forget_bias=False)
    assert he.kernel.std().item() == pytest.approx(np.sqrt(2 / 12), rel=0.1) and torch.all(he.bias == 1)
    with pytest.raises(KnowItConfigError, match="kernel_initializer: 'glorot' is not an initializer"):
        ConvLSTM1D(4, 8, 3, kernel_initializer="glorot")


def test_dropout_masks_are_fixed_across_time_and_training_only():
    kernel, recurrent, bias = _weights(3, 2, 3)
    layer = ConvLSTM1D(2, 3, 3, padding="same", data_format="channels_first", dropout=0.5)
    layer.load_keras_weights(kernel, recurrent, bias)
    x = torch.from_numpy(RNG.normal(size=(2, 5, 2, 6)).astype(np.float32))
    layer.train()
    torch.manual_seed(7)
    got = layer(x).detach().numpy()
    torch.manual_seed(7)
    mask = torch.bernoulli(torch.full((2, 1, 2, 6), 0.5)) / 0.5  # one mask, every step
    expected = reference((x * mask).numpy(), kernel, recurrent, bias, padding="same", data_format="channels_first")
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    layer.eval()
    plain = reference(x.numpy(), kernel, recurrent, bias, padding="same", data_format="channels_first")
    np.testing.assert_allclose(layer(x).detach().numpy(), plain, rtol=1e-4, atol=1e-5)
    rec = ConvLSTM1D(2, 3, 3, padding="same", recurrent_dropout=0.5)
    rec.train()
    y = torch.randn(2, 5, 6, 2)
    assert not torch.allclose(rec(y), rec(y)) and (rec.eval() or True) and torch.equal(rec(y), rec(y))


def test_regularizers_penalise_the_weights_and_reach_the_training_loss():
    layer = ConvLSTM1D(2, 3, 3, kernel_regularizer={"l1": 0.1, "l2": 0.2}, recurrent_regularizer="l2", bias_regularizer="l1")
    expected = (0.1 * layer.kernel.abs().sum() + 0.2 * layer.kernel.square().sum()
                + 0.01 * layer.recurrent_kernel.square().sum() + 0.01 * layer.bias.abs().sum())
    torch.testing.assert_close(layer.regularization_loss(), expected)
    with pytest.raises(KnowItConfigError, match="kernel_regularizer: 'l3' is not a regularizer"):
        ConvLSTM1D(2, 3, 3, kernel_regularizer="l3")
    from knowit.training.module import KnowItModule

    def module(reg):
        torch.manual_seed(0)
        return KnowItModule("convlstm1d", {"filters": [4], "kernel_regularizer": reg}, [5, 6, 2], [1], "regression", "mse_loss", ["mae"])

    batch = {"x": torch.randn(4, 5, 6, 2), "y": torch.randn(4, 1)}
    plain, penalised = module(None), module({"l2": 1.0})
    base = plain._step(batch, "valid")
    assert penalised._step(batch, "valid").item() == pytest.approx(base.item())  # evaluation: the plain loss
    extra = penalised.model.layers[0].kernel.square().sum()
    assert penalised._step(batch, "train").item() == pytest.approx((base + extra).item(), rel=1e-5)


def test_stateful_carries_states_between_calls_and_resets():
    layer = ConvLSTM1D(2, 3, 3, padding="same", stateful=True)
    whole = ConvLSTM1D(2, 3, 3, padding="same")
    whole.load_state_dict(layer.state_dict())
    x = torch.randn(2, 8, 6, 2)
    layer(x[:, :4])
    torch.testing.assert_close(layer(x[:, 4:]), whole(x))
    layer.reset_states()
    torch.testing.assert_close(layer(x[:, 4:]), whole(x[:, 4:]))
    layer.reset_states(torch.tensor([True, False]))  # row 0 starts over, row 1 carries on
    out = layer(x[:, 4:])
    torch.testing.assert_close(out[0], whole(x[:1, 4:])[0])
    assert not torch.allclose(out[1], whole(x[1:, 4:])[0])
    assert "h" not in layer.state_dict()


def test_go_backwards_reads_time_reversed():
    layer = ConvLSTM1D(2, 3, 3, return_sequences=True, go_backwards=True)
    forward = ConvLSTM1D(2, 3, 3, return_sequences=True)
    forward.load_state_dict(layer.state_dict())
    x = torch.randn(2, 5, 7, 2)
    torch.testing.assert_close(layer(x), forward(x.flip(1)))


def test_freezing_stops_updates():
    layer = ConvLSTM1D(2, 3, 3, trainable=False)
    assert not any(p.requires_grad for p in layer.parameters())
    layer.set_trainable(True)
    assert all(p.requires_grad for p in layer.parameters())


@pytest.mark.parametrize("kwargs, key", [
    (dict(padding="full"), "padding"), (dict(padding=[1]), "padding"), (dict(data_format="nchw"), "data_format"),
    (dict(strides=2, dilation_rate=2), "strides"), (dict(dropout=1.0), "dropout"), (dict(activation="tanhh"), "activation"),
    (dict(filters=0), "filters"),
])
def test_bad_arguments_name_the_argument(kwargs, key):
    args = dict(in_channels=2, filters=3, kernel_size=3) | kwargs
    with pytest.raises(KnowItConfigError, match=f"^{key}:"):
        ConvLSTM1D(**args)


def test_keras_weights_of_the_wrong_shape_are_refused():
    layer = ConvLSTM1D(2, 3, 3)
    with pytest.raises(KnowItConfigError, match=r"kernel: expected Keras shape \(3, 2, 12\)"):
        layer.load_keras_weights(np.zeros((12, 2, 3)), np.zeros((3, 3, 12)), np.zeros(12))


def test_arch_trains_on_field_sequences_with_every_layer_option(ki):
    from tests.conftest import TINY_TRAINER

    arch = {"name": "convlstm1d", "filters": [4, 4], "batch_norm": True, "head": [8], "dropout": 0.1,
            "recurrent_dropout": 0.1, "kernel_regularizer": "l2", "data_format": "channels_last"}
    result = ki.train_model("field", {"data": {"name": "synth_field"}, "arch": arch, "trainer": TINY_TRAINER})
    assert np.isfinite(list(result.metrics.values())).all()
    loaded = ki.load(result.run_dir)
    assert [type(m).__name__ for m in loaded.model.layers] == ["ConvLSTM1D", "ConvLSTM1D"]
    assert loaded.model.layers[0].return_sequences and not loaded.model.layers[1].return_sequences
    from knowit import KnowItConfigError as ConfigError

    with pytest.raises(ConfigError, match="data.batch_sampling: arch.stateful=true"):
        ki.train_model("stateful", {"data": {"name": "synth_field"}, "arch": {"name": "convlstm1d", "stateful": True}, "trainer": TINY_TRAINER})


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("recurrent_dropout", [0.0, 0.4])
@pytest.mark.parametrize("conv", [dict(padding="same"), dict(padding="valid", strides=2, use_bias=False),
                                  dict(padding=[2, 1], dilation_rate=2), dict(kernel_size=4, padding="same")])
def test_hand_written_backward_equals_autograd(return_sequences, recurrent_dropout, conv):
    """The fast recurrence (tanh/sigmoid) has its own backward: same gradients as autograd's, for
    the input, both kernels and the bias, with every kind of input window and state window."""
    torch.manual_seed(3)
    kwargs = dict(kernel_size=3, return_sequences=return_sequences, return_state=True, recurrent_dropout=recurrent_dropout) | conv
    fast = ConvLSTM1D(3, 4, **kwargs).double()
    slow = ConvLSTM1D(3, 4, **kwargs).double()
    slow.load_state_dict(fast.state_dict())
    slow._standard_gates = False  # the generic autograd loop
    assert fast._standard_gates
    x = torch.randn(2, 5, 7, 3, dtype=torch.float64)
    states = torch.randn(2, 2, fast.output_rows(7), 4, dtype=torch.float64)
    grads = []
    for layer in (fast, slow):
        layer.train()
        xi, h0, c0 = (t.clone().requires_grad_() for t in (x, states[0], states[1]))
        torch.manual_seed(11)  # the same dropout masks
        out, h, c = layer(xi, initial_state=[h0, c0])
        loss = (out if return_sequences else h).sin().sum() + (c * 0.3).cos().sum()
        loss.backward()
        grads.append([xi.grad, h0.grad, c0.grad, *(p.grad for p in layer.parameters())])
        layer.zero_grad()
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_recycled_buffers_never_serve_two_live_graphs():
    """The recurrence recycles its buffers after backward: graphs alive at the same time, and a
    graph kept with retain_graph, still get their own gradients."""
    from knowit.layers.recurrence import WORKSPACE

    torch.manual_seed(5)
    layer = ConvLSTM1D(2, 3, 3, padding="same")
    x1, x2 = torch.randn(2, 4, 6, 2), torch.randn(2, 4, 6, 2)

    def grads(x, times=1):
        layer.zero_grad()
        loss = layer(x).square().sum()
        for _ in range(times):
            loss.backward(retain_graph=True)
        return [p.grad.clone() for p in layer.parameters()]

    WORKSPACE.clear()
    alone1, alone2 = grads(x1), grads(x2)
    layer.zero_grad()
    loss1, loss2 = layer(x1).square().sum(), layer(x2).square().sum()  # two live graphs
    loss2.backward()
    layer(x1 * 3).sum().backward()  # a third call takes the buffers loss2 gave back
    layer.zero_grad()
    loss1.backward()
    for got, want in zip((p.grad for p in layer.parameters()), alone1):
        torch.testing.assert_close(got, want)
    for got, want in zip(grads(x2, times=3), alone2):  # the kept graph is read three times
        torch.testing.assert_close(got, 3 * want)
    assert WORKSPACE.held > 0  # and buffers are recycled
    WORKSPACE.clear()
    with torch.no_grad():  # no graph, no backward: the buffers come back at once
        layer(x1)
    assert WORKSPACE.held > 0
