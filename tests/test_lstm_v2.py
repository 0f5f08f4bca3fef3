"""KnowIt's LSTMv2 options on the LSTM: residual connections between stacked layers, and
``stateful`` (carried states through the same InternalState as ``internal_state.tracking``)."""
from __future__ import annotations

import pytest
import torch

from knowit.config.run_config import validate
from knowit.default_archs.lstm import Model
from knowit.errors import KnowItConfigError

IN = [6, 3]


def model(**args) -> Model:
    torch.manual_seed(0)
    return Model(IN, [2, 1], "regression", {"width": 5, "depth": 3, "dropout": 0.0, "residual": True, **args}).eval()


@pytest.mark.parametrize("bidirectional", [False, True])
def test_residual_adds_each_stacked_layer_s_input_to_its_output(bidirectional):
    m = model(bidirectional=bidirectional)
    x = torch.randn(4, *IN)
    first, second, third = m.lstm_layers
    a = first(x)[0]
    b = second(a)[0] + a
    c = third(b)[0] + b
    width = 5
    ends = torch.cat([c[:, -1, :width]] + ([c[:, 0, width:]] if bidirectional else []), dim=1)
    torch.testing.assert_close(m(x), m.model_output(ends).view(4, 2, 1))
    plain = Model(IN, [2, 1], "regression", {"width": 5, "depth": 3, "dropout": 0.0, "bidirectional": bidirectional})
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in plain.parameters())  # same weights, other wiring


def test_stateful_residual_lstm_over_two_chunks_equals_one_pass_over_the_stream():
    x = torch.randn(2, 12, 3)
    streamed = model(stateful=True)
    assert streamed.stateful and not model().stateful
    streamed(x[:, :6])
    second = streamed(x[:, 6:])  # starts from the states the first chunk left
    fresh = model()  # the same weights, run over the whole stream at once
    out = None
    for layer in fresh.lstm_layers:
        y = layer(x if out is None else out)[0]
        out = y if out is None else y + out
    torch.testing.assert_close(second, fresh.model_output(out[:, -1]).view(2, 2, 1))


def test_residual_needs_depth_two_and_stateful_needs_contiguous_batches():
    with pytest.raises(KnowItConfigError, match=r"^arch\.residual: needs depth >= 2"):
        validate({"arch": {"name": "lstm", "residual": True, "depth": 1}})
    from knowit.orchestrator import check_stateful_sampling

    cfg = validate({"arch": {"name": "lstm", "stateful": True}})
    with pytest.raises(KnowItConfigError, match=r"^data\.batch_sampling: arch\.stateful=true carries states"):
        check_stateful_sampling(cfg)
    check_stateful_sampling(validate({"arch": {"name": "lstm", "stateful": True}, "data": {"batch_sampling": "contiguous"}}))
