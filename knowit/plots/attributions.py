"""Attribution heatmaps: what the model looked at, per input time step and component.

- series (T, C): mean |attribution| as a components x time heatmap, and one heatmap per point;
- field (T, rows, C) (ConvLSTM1D): a rows x time map (|attribution| summed over channels);
- frames (T, C, H, W) (CNN-LSTM): one saliency image per frame (summed over channels), next to
  the frames of each shown point.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from knowit.atomic_io import write_atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    plt = _pyplot()
    fig.tight_layout()
    write_atomic(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)
    return path


def _time_labels(arrays: dict[str, np.ndarray], steps: int) -> list[str]:
    offsets = arrays.get("in_offsets")
    if offsets is None or len(offsets) != steps:
        return [str(t) for t in range(steps)]
    return ["t" if o == 0 else f"t{o:+d}" for o in offsets]


def _to_time_first(a: np.ndarray, layout: str) -> np.ndarray:
    """(..., T, *) per layout -> (..., T, rows, C) for fields, (..., T, C, H, W) for frames."""
    if layout == "field_channels_first":
        return np.swapaxes(a, -1, -2)
    if layout == "frames_channels_last":
        return np.moveaxis(a, -1, -3)
    return a


def _map(a: np.ndarray, layout: str) -> np.ndarray:
    """One |attribution| map per window: series (C, T), field (rows, T), frames (T, H, W)."""
    a = np.abs(_to_time_first(a, layout))
    if layout == "series":
        return np.swapaxes(a, -1, -2)
    if layout.startswith("field"):
        return np.swapaxes(a.sum(-1), -1, -2)
    if layout.startswith("frames"):
        return a.sum(-3)
    return a.reshape(*a.shape[:-1], -1)


def _heatmap(ax: Any, values: np.ndarray, arrays: dict[str, np.ndarray], layout: str, title: str) -> None:
    image = ax.imshow(values, aspect="auto", cmap="magma", interpolation="nearest")
    steps = values.shape[1]
    labels = _time_labels(arrays, steps)
    every = max(1, steps // 12)
    ax.set_xticks(range(0, steps, every), labels[::every])
    ax.set_xlabel("input time step")
    if layout == "series" and "in_components" in arrays and len(arrays["in_components"]) == values.shape[0]:
        ax.set_yticks(range(values.shape[0]), [str(c) for c in arrays["in_components"]])
        ax.set_ylabel("input component")
    else:
        ax.set_ylabel("row" if layout.startswith("field") else "feature")
    ax.set_title(title, fontsize=10)
    ax.figure.colorbar(image, ax=ax, label="|attribution|")


def attribution_plots(arrays: dict[str, np.ndarray], layout: str, folder: Path, name: str, n_points: int) -> list[Path]:
    plt = _pyplot()
    attributions = arrays["attributions"]  # (points, outputs, *input)
    method = str(arrays["method"])
    maps = _map(attributions, layout)  # (points, outputs, ...map)
    mean = maps.mean(axis=(0, 1))
    written = []
    n = len(attributions)
    if layout.startswith("frames"):
        frames = mean.shape[0]
        fig, axes = plt.subplots(1, frames, figsize=(2.6 * frames, 2.8), squeeze=False)
        for t, ax in enumerate(axes[0]):
            ax.imshow(mean[t], cmap="magma", vmin=0, vmax=mean.max() or 1)
            ax.set_title(f"frame {t}", fontsize=9)
            ax.axis("off")
        fig.suptitle(f"{method}: mean |attribution| per frame over {n} points")
    else:
        fig, ax = plt.subplots(figsize=(max(6, 0.35 * mean.shape[1] + 3), max(3, 0.3 * mean.shape[0] + 2)))
        _heatmap(ax, mean, arrays, layout, f"{method}: mean |attribution| over {n} points")
    written.append(_save(fig, folder / f"{name}_mean.png"))

    inputs = _to_time_first(arrays["inputs"], layout)
    for i in range(min(n_points, n)):
        point = int(arrays["points"][i])
        where = f"point {point}" + (f", {arrays['instance'][i]} t={arrays['time'][i]}" if "instance" in arrays else "")
        if layout.startswith("frames"):
            frames = maps.shape[2]
            fig, axes = plt.subplots(2, frames, figsize=(2.6 * frames, 5.2), squeeze=False)
            for t in range(frames):
                axes[0][t].imshow(inputs[i, t].mean(0), cmap="gray")
                axes[0][t].set_title(f"frame {t}", fontsize=9)
                axes[1][t].imshow(maps[i].mean(0)[t], cmap="magma")
                for ax in (axes[0][t], axes[1][t]):
                    ax.axis("off")
            fig.suptitle(f"{method}, {where}: input frames (top) and saliency (bottom)")
        else:
            values = maps[i].mean(0)
            fig, ax = plt.subplots(figsize=(max(6, 0.35 * values.shape[1] + 3), max(3, 0.3 * values.shape[0] + 2)))
            _heatmap(ax, values, arrays, layout, f"{method}, {where}")
        written.append(_save(fig, folder / f"{name}_point{point}.png"))
    return written
