"""Plots of comparisons: per-point error differences of paired runs, a metric per backtest fold."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from knowit.plots.results import _plt, _save


def error_differences(diffs: dict[str, np.ndarray], path: Path, *, ylabel: str, title: str = "") -> Path:
    """One panel per pair: each point's loss difference (in point order) and its running mean;
    below zero the first model of the pair did better."""
    plt = _plt()
    fig, axes = plt.subplots(len(diffs), 1, figsize=(9, 2.6 * len(diffs)), squeeze=False)
    for ax, (label, d) in zip(axes[:, 0], diffs.items()):
        x = np.arange(len(d))
        ax.plot(x, d, ".", markersize=2, alpha=0.5, label="per point")
        ax.plot(x, np.cumsum(d) / (x + 1), "-", color="C3", label="running mean")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_title(label)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("point (instance, slice, time order)")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def metric_per_fold(values: dict[str, list[float]], path: Path, *, mean_interval: dict[str, tuple[float, float, float]], title: str = "") -> Path:
    """A metric per backtest fold (one line per model or baseline), the model's mean and interval shaded."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, (label, ys) in enumerate(values.items()):
        folds = np.arange(1, len(ys) + 1)
        ax.plot(folds, ys, "-o", color=f"C{k}", label=label, markersize=4)
        if label in mean_interval:
            mean, low, high = mean_interval[label]
            ax.axhline(mean, color=f"C{k}", linestyle="--", linewidth=0.8)
            ax.axhspan(low, high, color=f"C{k}", alpha=0.12)
    ax.set_xlabel("fold")
    ax.set_ylabel(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)
