"""CNN-LSTM on image sequences, made offline: the Keras notebook's model_CL on 2-frame digit
sequences (classification) and a ManufacturingNet-style CNN-LSTM on moving squares (regression).

Digits: no download. Each digit 0-9 is rendered with matplotlib's bundled DejaVu fonts at a random
size (11-20 pt), position, rotation (up to 30 degrees) and weight into a 28x28 frame, under heavy noise; a sequence holds two different
renderings of one digit, shaped (2, 28, 28, 1) like the notebook's input, and its label is the digit.

Moving squares: a bright 5x5 square moves across noisy 24x24 frames at a constant velocity; the
model reads 6 frames (N, T, C, H, W) and regresses the velocity (vx, vy) in pixels per frame.

    python experiments/cnn_lstm_digits/run.py [--smoke] [--exp-dir DIR]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from knowit import KnowIt


def render_digits(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(0.28, 0.28), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))

    def frame(digit: int) -> np.ndarray:
        ax.clear()
        ax.set_xlim(0, 1), ax.set_ylim(0, 1), ax.axis("off")
        ax.set_facecolor("black")
        fig.patch.set_facecolor("black")
        ax.text(rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75), str(digit), color="white", ha="center", va="center",
                fontsize=rng.uniform(11, 20), rotation=rng.uniform(-30, 30), fontweight=rng.choice(["normal", "bold"]),
                family=rng.choice(["DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono"]))
        canvas.draw()
        image = np.asarray(canvas.buffer_rgba())[..., 0].astype(np.float32) / 255.0
        return np.clip(image + 0.3 * rng.standard_normal(image.shape), 0, 1)

    labels = rng.integers(0, 10, n)
    x = np.stack([np.stack([frame(int(d)), frame(int(d))]) for d in labels])[..., None]  # (N, 2, 28, 28, 1)
    return {"x": x.astype(np.float32), "y": labels}


def moving_squares(n: int, frames: int = 6, size: int = 24, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    velocity = rng.uniform(-1.5, 1.5, (n, 2))
    start = rng.uniform(6, size - 6, (n, 2)) - velocity * frames / 2
    yy, xx = np.mgrid[0:size, 0:size]
    x = np.empty((n, frames, 1, size, size), np.float32)
    for t in range(frames):
        cx, cy = (start + velocity * t).T
        inside = (np.abs(xx[None] - cx[:, None, None]) <= 2.5) & (np.abs(yy[None] - cy[:, None, None]) <= 2.5)
        x[:, t, 0] = inside + 0.2 * rng.standard_normal((n, size, size))
    return {"x": x, "y": velocity.astype(np.float32)}


def train(ki: KnowIt, name: str, kwargs: dict) -> dict:
    started = time.perf_counter()
    result = ki.train_model(name, kwargs, overwrite=True, and_viz=True)
    seconds = time.perf_counter() - started
    summary = json.loads((result.run_dir / "summary.json").read_text())
    return {"run_dir": str(result.run_dir), "metrics": result.metrics, "evaluation": summary.get("evaluation", {}),
            "epochs": summary["epochs"], "seconds_per_epoch": seconds / max(1, summary["epochs"]), "n_parameters": summary["n_parameters"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for a quick check")
    parser.add_argument("--exp-dir", default=None)
    args = parser.parse_args()
    n_digits, n_squares = (60, 64) if args.smoke else (3000, 2000)
    digit_epochs, square_epochs = (1, 1) if args.smoke else (40, 15)
    ki = KnowIt(args.exp_dir or tempfile.mkdtemp(prefix="knowit_cnn_lstm_"))
    ki.import_dataset({"data_import": {"raw_data": render_digits(n_digits), "meta": {"name": "digit_pairs", "task": "classification"}}}, overwrite=True)
    ki.import_dataset({"data_import": {"raw_data": moving_squares(n_squares), "meta": {"name": "moving_squares", "task": "regression"}}}, overwrite=True)
    digits = train(ki, "cnn_lstm_digits", {
        "data": {"name": "digit_pairs", "task": "classification", "split_method": "random", "stratify": True, "batch_size": 300 if not args.smoke else 20,
                 "scaling_method": None},
        "arch": {"name": "cnn_lstm", **_keras_model_cl()},
        "trainer": {"max_epochs": digit_epochs, "learning_rate": 3e-3, "accelerator": "cpu"},
    })
    squares = train(ki, "cnn_lstm_squares", {
        "data": {"name": "moving_squares", "task": "regression", "split_method": "random", "batch_size": 32, "scaling_method": None},
        "arch": {"name": "cnn_lstm", "conv_channels": [8, 16], "pooling": "every", "lstm_hidden": 32, "lstm_layers": 1},
        "trainer": {"max_epochs": square_epochs, "learning_rate": 3e-3, "accelerator": "cpu", "performance_metrics": ["r2", "mae"]},
    })
    print(json.dumps({"digits_classification": digits, "squares_velocity_regression": squares}, indent=2, default=str))


def _keras_model_cl() -> dict:
    """The shipped conf/arch/cnn_lstm_keras_mnist.yaml (model_CL), read as plain keys."""
    from importlib import resources

    import yaml

    text = (resources.files("knowit.conf") / "arch" / "cnn_lstm_keras_mnist.yaml").read_text()
    return {k: v for k, v in yaml.safe_load(text).items() if k != "name"}


if __name__ == "__main__":
    main()
