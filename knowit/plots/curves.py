"""Learning curves: loss (and accuracy, or the first metric) per epoch, train vs validation."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from knowit.atomic_io import write_atomic


def learning_curves(history: list[dict[str, Any]], path: Path, *, title: str = "") -> Path | None:
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [int(r["epoch"]) + 1 for r in history]
    logged = {k.split("_", 1)[1] for r in history for k in r if k.startswith(("train_", "valid_"))}
    loss = "loss_scaled" if "loss_scaled" in logged else "loss"  # scaled regression targets: the name says so
    metric_names = sorted(logged - {"loss", "loss_scaled"})
    panels = [loss] + (["accuracy"] if "accuracy" in metric_names else metric_names[:1])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, name in zip(axes[0], panels):
        for stage, style in (("train", "-o"), ("valid", "-s")):
            key = f"{stage}_{name}"
            ys = [r.get(key) for r in history]
            if any(y is not None for y in ys):
                ax.plot(epochs, ys, style, label="validation" if stage == "valid" else "training", markersize=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    write_atomic(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)
    return path
