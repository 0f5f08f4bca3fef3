"""ConvLSTM1D next-frame forecasting of a 1-D field, against the persistence baseline.

The field: pulses advected along a periodic line of ``rows`` cells at a random speed per sequence
and slowly diffusing, with a little noise; two channels (the pulse and its square). The model
reads ``T`` frames ``(T, rows, 2)`` and forecasts frame ``T + 1`` (``(rows, 2)``). Persistence
(tomorrow = today: the last input frame) is the baseline every forecaster must beat.

    python experiments/convlstm_field/run.py [--smoke] [--exp-dir DIR]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from knowit import KnowIt


def make_field(n: int, steps: int, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    grid = np.arange(rows)
    speed = rng.uniform(-1.5, 1.5, n)
    start = rng.uniform(0, rows, n)
    width = rng.uniform(1.5, 3.0, n)
    frames = []
    for t in range(steps + 1):
        centre = (start + speed * t) % rows
        dist = np.minimum(np.abs(grid[None] - centre[:, None]), rows - np.abs(grid[None] - centre[:, None]))
        w = width[:, None] + 0.05 * t  # slow diffusion
        pulse = np.exp(-0.5 * (dist / w) ** 2)
        frames.append(np.stack([pulse, pulse**2], axis=-1))
    field = np.stack(frames, axis=1) + 0.02 * rng.standard_normal((n, steps + 1, rows, 2))
    return {"x": field[:, :steps].astype(np.float32), "y": field[:, steps].astype(np.float32)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for a quick check")
    parser.add_argument("--exp-dir", default=None)
    args = parser.parse_args()
    n, steps, rows, epochs = (64, 4, 16, 1) if args.smoke else (1200, 8, 32, 25)
    ki = KnowIt(args.exp_dir or tempfile.mkdtemp(prefix="knowit_field_"))
    arrays = make_field(n, steps, rows)
    ki.import_dataset({"data_import": {"raw_data": arrays, "meta": {"name": "advection", "task": "regression"}}}, overwrite=True)
    kwargs = {
        "data": {"name": "advection", "task": "regression", "split_method": "random", "batch_size": 32, "scaling_method": None},
        "arch": {"name": "convlstm1d", "filters": [16, 16], "kernel_size": 5, "padding": "same", "head": []},
        "trainer": {"max_epochs": epochs, "learning_rate": 3e-3, "accelerator": "cpu",
                    "early_stopping": {"enabled": True, "monitor": "valid_loss", "patience": 5}},
    }
    started = time.perf_counter()
    result = ki.train_model("convlstm_field", kwargs, overwrite=True)
    seconds = time.perf_counter() - started
    # persistence on the very same test samples, in the same (unscaled) units
    run = ki.load(result.run_dir)
    from knowit.results.predictions import run_data

    test = run_data(run).prepared.set_points("test")
    x, y = arrays["x"][test], arrays["y"][test]
    persistence = float(np.mean((x[:, -1] - y) ** 2))
    model = float(np.mean((run.predict(x) - y) ** 2))
    summary = json.loads((result.run_dir / "summary.json").read_text())
    out = {
        "test_mse_model": model, "test_mse_logged": result.metrics["test_loss"], "test_mse_persistence": persistence,
        "skill_vs_persistence": 1 - model / persistence, "epochs": summary["epochs"],
        "seconds_per_epoch": seconds / max(1, summary["epochs"]), "n_parameters": summary["n_parameters"],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
