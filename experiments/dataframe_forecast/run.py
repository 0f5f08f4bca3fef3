"""Multi-step forecasting of a multi-instance series imported from a pandas DataFrame: KnowIt's
``KI.train_model`` call (data / arch / trainer kwargs, ``arch_hps``) with fastLSTM's recipe
(``timesteps`` = the input window, ``steps_ahead`` = the output window, scalers, early stopping,
de-scaled predictions), scored against persistence in original units.

The data: three "stations" of hourly load with daily and weekly cycles, a slow drift and noise;
each station has a few missing hours (which cut it into slices). Inputs: load, temperature and
hour of day; target: the load 1..6 hours ahead.

    python experiments/dataframe_forecast/run.py [--smoke] [--exp-dir DIR]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import pandas as pd

from knowit import KnowIt

TIMESTEPS, STEPS_AHEAD = 24, 6


def stations(hours: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for k, name in enumerate(["north", "harbour", "hill"]):
        t = pd.date_range("2024-01-01", periods=hours, freq="h")
        h = np.arange(hours)
        temperature = 12 + 8 * np.sin(2 * np.pi * (h - 15) / 24) + 3 * rng.standard_normal(hours).cumsum() / np.sqrt(hours)
        load = (50 + 10 * k + 15 * np.sin(2 * np.pi * (h - 8) / 24) + 6 * np.sin(2 * np.pi * h / 168)
                - 0.8 * temperature + 2 * rng.standard_normal(hours))
        frame = pd.DataFrame({"time": t, "station": name, "load": load, "temperature": temperature, "hour": t.hour.astype(float)})
        drop = rng.choice(hours, 3, replace=False)  # missing hours: new slices
        frames.append(frame.drop(index=drop))
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for a quick check")
    parser.add_argument("--exp-dir", default=None)
    args = parser.parse_args()
    hours, epochs = (400, 1) if args.smoke else (24 * 120, 40)
    KI = KnowIt(args.exp_dir or tempfile.mkdtemp(prefix="knowit_forecast_"))
    KI.import_dataset({"data_import": {"raw_data": stations(hours), "meta": {
        "name": "station_load", "time_column": "time", "instance_column": "station"}}}, overwrite=True)

    # KnowIt's call, as its reference writes it; fastLSTM's knobs are the chunks and the trainer.
    data_args = {"name": "station_load", "task": "regression", "in_components": ["load", "temperature", "hour"],
                 "out_components": ["load"], "in_chunk": [-(TIMESTEPS - 1), 0], "out_chunk": [1, STEPS_AHEAD],
                 "split_portions": [0.7, 0.15, 0.15], "batch_size": 64, "split_method": "chronological",
                 "scaling_method": "z-norm", "scaling_tag": "full"}
    arch_args = {"task": "regression", "name": "LSTM",
                 "arch_hps": {"arch_args": {"width": 64, "depth": 1, "dropout": 0.1}}}
    trainer_args = {"loss_fn": "mse_loss", "optim": "Adam", "max_epochs": epochs, "learning_rate": 3e-3, "task": "regression",
                    "accelerator": "cpu", "early_stopping": {"enabled": True, "monitor": "valid_loss", "patience": 6},
                    "performance_metrics": ["mae", "r2"]}
    started = time.perf_counter()
    result = KI.train_model("station_forecast", kwargs={"data": data_args, "arch": arch_args, "trainer": trainer_args},
                            overwrite=True, and_viz=True)
    seconds = time.perf_counter() - started

    # de-scaled predictions of the test set, and persistence (load now = load in 1..6 h) on the same points
    frame = KI.generate_predictions("station_forecast", {"predictor": {"prediction_set": "test", "rescale_outputs": True}})
    raw = stations(hours).set_index(["station", "time"])["load"]
    now = frame["time"]
    persistence = raw.reindex(pd.MultiIndex.from_arrays([frame["instance"], now])).to_numpy()
    error = frame["prediction"].to_numpy() - frame["target"].to_numpy()
    per_step = frame.assign(abs_error=np.abs(error), persist=np.abs(persistence - frame["target"].to_numpy()))
    by_step = per_step.groupby("step")[["abs_error", "persist"]].mean()
    summary = json.loads((result.run_dir / "summary.json").read_text())
    out = {
        "test_mae_model": float(np.abs(error).mean()), "test_mae_persistence": float(np.nanmean(np.abs(persistence - frame["target"]))),
        "mae_by_step_model": {int(k): round(float(v), 3) for k, v in by_step["abs_error"].items()},
        "mae_by_step_persistence": {int(k): round(float(v), 3) for k, v in by_step["persist"].items()},
        "test_r2_scaled": result.metrics.get("test_r2"), "epochs": summary["epochs"], "best_epoch": summary.get("best_epoch"),
        "seconds_per_epoch": seconds / max(1, summary["epochs"]), "n_parameters": summary["n_parameters"],
        "test_points": int(frame[["instance", "time"]].drop_duplicates().shape[0]),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
