"""Model zoo: every window architecture on the same two built-in tasks, same split, same budget.

Tasks: ``synth_regression`` (forecast y1 from x1..x4, 16-step windows) and
``synth_classification`` (3 classes from the recent pattern of x1..x3). Every architecture runs
with its shipped defaults (KnowIt's, where KnowIt has the architecture), the same seed,
optimiser, learning rate, batch size and number of epochs. The table reports the test metric of
the best-validation checkpoint, the parameter count and the median epoch time; the plot puts
the test metric against the epoch time. ``cnn_lstm`` and ``convlstm1d`` read image sequences and
1-D fields, not windows of a series: their own experiments (cnn_lstm_digits, convlstm_field)
cover them.

    python experiments/model_zoo/run.py [--smoke] [--exp-dir DIR] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from knowit import KnowIt

ARCHS = ("lstm", "mlp", "cnn", "tcn", "transformer", "tft")
BUDGET_EPOCHS, TRAIN_BATCHES = 3, 10
TASKS = {"regression": ("synth_regression", "test_mae", "lower"), "classification": ("synth_classification", "test_accuracy", "higher")}


# --smoke: tiny models, so the check costs little more than knowit's fixed cost per run.
SMOKE_ARGS = {"lstm": {"width": 8}, "mlp": {"width": 8, "depth": 1}, "cnn": {"num_filters": 4}, "tcn": {"num_filters": 4},
              "transformer": {"d_model": 8, "n_heads": 2, "depth": 1, "feedforward": 8}, "tft": {"hidden_size": 8, "n_heads": 2}}


def run_zoo(ki: KnowIt, epochs: int, limit: dict, out: Path, smoke: bool = False) -> list[dict]:
    rows: list[dict] = []
    for task, (dataset, metric, _) in TASKS.items():
        for arch in ARCHS:
            trainer = {"max_epochs": epochs, "learning_rate": 1e-3, "accelerator": "cpu", "progress_bar": False, **limit}
            result = ki.train_model(f"{arch}_{task}", {"data": {"name": dataset, "batch_size": 64}, "arch": {"name": arch, **(SMOKE_ARGS[arch] if smoke else {})},
                                                       "trainer": trainer}, safe_mode=False)
            times = [row["epoch_time"] for row in _history(result.run_dir)]
            rows.append({"task": task, "arch": arch, "metric": metric, "value": result.metrics[metric],
                         "test_loss": result.metrics.get("test_loss", result.metrics.get("test_loss_scaled")), "n_parameters": result.n_parameters,
                         "epoch_time_s": statistics.median(times), "epochs": len(times)})
            write(rows, out)  # after every run, so an interrupted zoo keeps what it measured
    return rows


def write(rows: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(table(rows) + "\n")
    (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")


def _history(run_dir: Path) -> list[dict]:
    from knowit.training.callbacks import read_history

    return read_history(Path(run_dir) / "metrics.csv")


def table(rows: list[dict]) -> str:
    lines = ["| task | arch | test metric | value | test loss (regression: scaled targets) | parameters | epoch time (s) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['arch']} | {r['metric']} | {r['value']:.4f} | {r['test_loss']:.4f} | {r['n_parameters']:,} | {r['epoch_time_s']:.2f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (task, (_, metric, better)) in zip(axes, TASKS.items()):
        for r in (r for r in rows if r["task"] == task):
            ax.scatter(r["epoch_time_s"], r["value"], s=40)
            ax.annotate(r["arch"], (r["epoch_time_s"], r["value"]), textcoords="offset points", xytext=(4, 4))
        ax.set_xlabel("median epoch time (s)")
        ax.set_ylabel(f"{metric} ({better} is better)")
        ax.set_title(task)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny budget, for a quick check")
    parser.add_argument("--exp-dir", default=None)
    parser.add_argument("--out", default=None, help="where results.md/json and zoo.png go (default: beside this script; smoke: the exp dir)")
    args = parser.parse_args()
    exp_dir = Path(args.exp_dir or tempfile.mkdtemp(prefix="knowit_zoo_"))
    ki = KnowIt(exp_dir)
    # The same budget for every architecture: BUDGET epochs of TRAIN_BATCHES batches of 64 windows.
    epochs, limit = (1, {"limit_train_batches": 2, "limit_val_batches": 1, "limit_test_batches": 1}) if args.smoke else (
        BUDGET_EPOCHS, {"limit_train_batches": TRAIN_BATCHES})
    out = Path(args.out) if args.out else (exp_dir if args.smoke else Path(__file__).resolve().parent)
    rows = run_zoo(ki, epochs, limit, out, smoke=args.smoke)
    plot(rows, out / "zoo.png")
    print(table(rows))
    print(json.dumps({"rows": rows, "out": str(out)}))


if __name__ == "__main__":
    main()
