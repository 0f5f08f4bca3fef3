"""Result plots of one set: confusion matrix and per-class report (classification); predicted vs
true with r2, series over time and multi-step forecasts (regression). Headless (Agg), written
atomically under the run's ``visualizations/``; the numbers come from ``knowit.results.report``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knowit.atomic_io import write_atomic, write_json
from knowit.results import report


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    write_atomic(path, lambda p: fig.savefig(p, format="png", dpi=110))
    _plt().close(fig)
    return path


def confusion_matrix_plot(cm: dict[str, Any], path: Path, *, title: str) -> Path:
    plt = _plt()
    matrix = np.asarray(cm["matrix"])
    classes = cm["classes"]
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.5, 0.6 * len(classes) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="share of the true class")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{matrix[i, j]}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    return _save(fig, path)


def classification_report_plot(rep: dict[str, Any], path: Path, *, title: str) -> Path:
    plt = _plt()
    classes = list(rep["classes"])
    x = np.arange(len(classes))
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(classes) + 2), 4))
    for k, name in enumerate(("precision", "recall", "f1")):
        ax.bar(x + (k - 1) * 0.27, [rep["classes"][c][name] for c in classes], width=0.27, label=name)
    ax.set_xticks(x, [f"{c}\n(n={rep['classes'][c]['support']})" for c in classes])
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"{title}\nmin probability {rep['min_probability']:g}: {rep['covered']} predicted, {rep['withheld']} withheld")
    return _save(fig, path)


def r2_scatter(frame: pd.DataFrame, r2: dict[str, float], path: Path, *, title: str) -> Path:
    plt = _plt()
    components = list(r2)
    fig, axes = plt.subplots(1, len(components), figsize=(4.5 * len(components), 4.3), squeeze=False)
    for ax, component in zip(axes[0], components):
        part = frame[frame["component"] == component]
        ax.scatter(part["target"], part["prediction"], s=6, alpha=0.4)
        lo = float(min(part["target"].min(), part["prediction"].min()))
        hi = float(max(part["target"].max(), part["prediction"].max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="prediction = truth")
        ax.set_xlabel(f"true {component}")
        ax.set_ylabel(f"predicted {component}")
        ax.set_title(f"{component}: r2 = {r2[component]:.3f}")
        ax.legend(loc="upper left")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def series_plot(frame: pd.DataFrame, path: Path, *, title: str, max_panels: int = 4) -> Path:
    """Predicted and true values over time for the first slices (the first output step)."""
    plt = _plt()
    first = frame[frame["step"] == frame["step"].min()]
    groups = list(first.groupby(["instance", "slice"], sort=False))[:max_panels]
    components = list(dict.fromkeys(first["component"]))
    fig, axes = plt.subplots(len(groups), 1, figsize=(10, 2.6 * len(groups)), squeeze=False)
    for ax, ((instance, slice_id), part) in zip(axes[:, 0], groups):
        for component in components:
            c = part[part["component"] == component].sort_values("time")
            line = ax.plot(c["time"], c["target"], lw=1.2, label=f"true {component}")[0]
            ax.plot(c["time"], c["prediction"], "--", lw=1.2, color=line.get_color(), label=f"predicted {component}")
        ax.set_title(f"instance {instance}, slice {slice_id}", fontsize=9)
        if pd.api.types.is_datetime64_any_dtype(part["time"]):  # the default labels overlap on spans of a few weeks
            import matplotlib.dates as mdates

            locator = mdates.AutoDateLocator()
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{title} (output step {int(first['step'].min())})")
    return _save(fig, path)


def forecast_plot(frame: pd.DataFrame, path: Path, *, title: str, n_points: int = 4) -> Path:
    """Whole multi-step forecasts of a few points against the truth, by step ahead."""
    plt = _plt()
    keys = frame[["instance", "slice", "time"]].drop_duplicates()
    picked = keys.iloc[np.linspace(0, len(keys) - 1, min(n_points, len(keys))).astype(int)]
    components = list(dict.fromkeys(frame["component"]))
    origins = [str(t) for t in picked["time"]]
    if pd.api.types.is_datetime64_any_dtype(picked["time"]):  # daily and coarser data: the date alone
        stamps = pd.DatetimeIndex(picked["time"])
        origins = list(stamps.strftime("%Y-%m-%d" if (stamps == stamps.normalize()).all() else "%Y-%m-%d %H:%M"))
    fig, axes = plt.subplots(1, len(picked), figsize=(4 * len(picked), 3.6), squeeze=False)
    for ax, (_, key), origin in zip(axes[0], picked.iterrows(), origins):
        part = frame[(frame["instance"] == key["instance"]) & (frame["slice"] == key["slice"]) & (frame["time"] == key["time"])]
        for component in components:
            c = part[part["component"] == component].sort_values("step")
            line = ax.plot(c["step"], c["target"], "-o", ms=3, label=f"true {component}")[0]
            ax.plot(c["step"], c["prediction"], "--s", ms=3, color=line.get_color(), label=f"forecast {component}")
        ax.set_xlabel(f"steps ahead of {origin}")
        ax.set_title(f"{key['instance']}: forecast from {origin}", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)


def visualize_set(frame: pd.DataFrame, task: str, set_name: str, folder: Path, *, title: str, min_probability: float = 0.0) -> list[Path]:
    """Every result plot that applies to the set's predictions; returns the files written."""
    folder = Path(folder)
    label = f"{title} — {set_name} set"
    written: list[Path] = []
    if task == "classification":
        cm = report.confusion_matrix(frame)
        rep = report.classification_report(frame, min_probability)
        write_json(folder / f"confusion_matrix_{set_name}.json", cm)
        write_json(folder / f"classification_report_{set_name}.json", rep)
        written += [
            confusion_matrix_plot(cm, folder / f"confusion_matrix_{set_name}.png", title=label),
            classification_report_plot(rep, folder / f"classification_report_{set_name}.png", title=label),
        ]
        return written
    r2 = report.r2_by_component(frame)
    written.append(r2_scatter(frame, r2, folder / f"predicted_vs_true_{set_name}.png", title=label))
    if "instance" in frame.columns:  # a time series: plots over time
        written.append(series_plot(frame, folder / f"series_{set_name}.png", title=label))
        if frame["step"].nunique() > 1:
            written.append(forecast_plot(frame, folder / f"forecasts_{set_name}.png", title=label))
    return written
