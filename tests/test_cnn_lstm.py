"""CNN-LSTM: shapes for option combinations, shape errors, the Keras notebook's model_CL (parameter
count checked against Keras itself), time folded into the batch, and a run that learns."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json
from pathlib import Path

import pytest
import torch
import yaml

from knowit import KnowItConfigError, KnowItDataError
from knowit.config.validate import build
from knowit.default_archs import cnn_lstm
from tests.conftest import TINY_TRAINER

CONF = Path(cnn_lstm.__file__).resolve().parents[1] / "conf" / "arch"


def make(input_dim, output_dim=(3,), task="classification", **kwargs):
    return cnn_lstm.Model(list(input_dim), list(output_dim), task, build(cnn_lstm.ArchArgs, kwargs, "arch"))


@pytest.mark.parametrize("kwargs", [
    {},
    {"padding": "same", "pooling": "every", "bidirectional": True},
    {"stride": [2, 1], "batch_norm": False, "head": [16, 8], "dropout": 0.2, "conv_dropout": 0.1},
    {"conv_channels": [4], "pooling": "none", "lstm_layers": 1, "lstm_hidden": 5, "lstm_activation": "sigmoid"},
    {"channels_last": True, "kernel_size": 5, "padding": 2, "keras_lstm": True, "lstm_layers": 2},
])
@pytest.mark.parametrize("task, output_dim", [("classification", [3]), ("regression", [2])])
def test_output_shapes(kwargs, task, output_dim):
    shape = (8, 12, 12, 1) if kwargs.get("channels_last") else (8, 1, 12, 12)
    model = make(shape, output_dim, task, lstm_hidden=kwargs.pop("lstm_hidden", 6), **kwargs)
    assert tuple(model(torch.randn(4, *shape)).shape) == (4, *output_dim)


def test_defaults_follow_manufacturingnet():
    a = cnn_lstm.ArchArgs()
    assert (a.kernel_size, a.padding, a.stride, a.batch_norm, a.pooling, a.pool_size, a.pool_stride) == (3, 0, 1, True, "last", 2, 2)
    assert (a.lstm_hidden, a.lstm_layers, a.bidirectional, a.dropout) == (128, 3, False, 0.0)
    model = make((8, 1, 12, 12))
    kinds = [type(m).__name__ for m in model.cnn]
    assert kinds.count("BatchNorm2d") == 2 and kinds.count("MaxPool2d") == 1 and kinds[-1] == "MaxPool2d"
    assert isinstance(model.lstm, torch.nn.LSTM) and model.lstm.num_layers == 3 and model.lstm.hidden_size == 128


def test_frames_go_through_the_cnn_in_one_call():
    model = make((8, 1, 12, 12), lstm_hidden=4, lstm_layers=1)
    calls = []
    model.cnn.register_forward_hook(lambda m, inp, out: calls.append(inp[0].shape[0]))
    model(torch.randn(5, 8, 1, 12, 12))
    assert calls == [40]  # 5 sequences x 8 frames, once


def test_keras_notebook_model_cl_has_the_same_parameters_as_keras():
    args = yaml.safe_load((CONF / "cnn_lstm_keras_mnist.yaml").read_text())
    args.pop("name")
    model = make((2, 28, 28, 1), (10,), **args)
    ours = sum(p.numel() for p in model.parameters())
    assert ours == 250_382
    keras = pytest.importorskip("keras")
    L = keras.layers
    model_cl = keras.Sequential([
        keras.Input((2, 28, 28, 1)),
        L.TimeDistributed(L.Conv2D(16, (5, 5), padding="same", activation="relu")),
        L.TimeDistributed(L.MaxPooling2D((2, 2))),
        L.TimeDistributed(L.Conv2D(36, (5, 5), padding="same", activation="relu")),
        L.TimeDistributed(L.MaxPooling2D((2, 2))),
        L.TimeDistributed(L.Dropout(0.25)),
        L.TimeDistributed(L.Flatten()),
        L.LSTM(32, activation="sigmoid"),
        L.Dense(128, activation="relu"),
        L.Dropout(0.5),
        L.Dense(10, activation="softmax"),
    ])
    assert model_cl.count_params() == ours


@pytest.mark.parametrize("kwargs, message", [
    ({"conv_channels": [4, 4, 4, 4], "pooling": "every"}, r"arch.conv_channels: the frames shrink to -1x-1 at the convolution 2"),
    ({"kernel_size": 13}, r"arch.conv_channels: the frames shrink to 0x0 at the convolution 0"),
    ({"stride": [1, 2, 3]}, r"arch.stride: 3 strides for 2 convolutions"),
    ({"padding": "full"}, r"arch.padding: 'full' is not valid"),
    ({"lstm_activation": "tanhh"}, r"arch.lstm_activation: 'tanhh' is not a valid choice \(did you mean 'tanh'\?\)"),
])
def test_shape_and_argument_errors_name_the_key(kwargs, message):
    with pytest.raises(KnowItConfigError, match=message):
        make((8, 1, 12, 12), **kwargs)


def test_wrong_input_rank_says_what_was_expected(ki):
    with pytest.raises(KnowItDataError, match=r"CNN-LSTM reads image sequences \(T, C, H, W\).*this dataset's samples are \[\d+, \d+\]"):
        ki.train_model("bad", {"arch": {"name": "cnn_lstm"}, "trainer": TINY_TRAINER})
    assert not (ki.exp_dir / "models" / "bad").exists()
    model = make((8, 1, 12, 12), lstm_hidden=4, lstm_layers=1)
    with pytest.raises(KnowItDataError, match=r"CNN-LSTM input must be \(batch, T, C, H, W\), got shape \(2, 8, 12, 12\)"):
        model(torch.randn(2, 8, 12, 12))


def test_learns_the_moving_blob_classes_and_reports_like_manufacturingnet(ki):
    arch = {"name": "cnn_lstm", "conv_channels": [8, 16], "lstm_hidden": 16, "lstm_layers": 1}
    trainer = {"max_epochs": 6, "learning_rate": 3e-3, "accelerator": "cpu"}
    result = ki.train_model("blobs", {"data": {"name": "synth_frames"}, "arch": arch, "trainer": trainer}, and_viz=True)
    assert result.metrics["test_accuracy"] > 0.8  # 3 balanced classes: chance is 1/3
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["n_parameters"] == sum(p.numel() for p in ki.load(result.run_dir).model.parameters())
    assert len(summary["epoch_times"]) == 6 and "confusion_matrix" in summary["evaluation"]
    history = (result.run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train_loss", "valid_loss", "train_accuracy", "valid_accuracy", "epoch_time"} <= set(history)
    assert (result.run_dir / "visualizations" / "confusion_matrix_test.png").is_file()
