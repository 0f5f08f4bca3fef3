"""The model's own explanation weights (``Model.explain()``, e.g. the TFT's), drawn beside
Captum's attribution heatmaps.

- ``explain_attention`` ``(points, T, T)``: the mean attention over the chosen points as a
  heatmap, output step (query) x attended step (key), labelled with the window's offsets;
- ``explain_variable_weights`` ``(points, T, n_in)``: the mean selection weight of each input
  component (bars, with the spread over points as error bars) and per component and step.
Other keys are saved in the ``.npz`` and not drawn.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from knowit.plots.attributions import _pyplot, _save, _time_labels


def explanation_summaries(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the plots show, from the saved arrays: ``attention`` ``(T, T)`` and
    ``variable_weights`` ``(n_in,)`` / ``variable_weights_by_step`` ``(n_in, T)`` (means over points)."""
    out: dict[str, np.ndarray] = {}
    attention = arrays.get("explain_attention")
    if attention is not None and attention.ndim == 3 and attention.shape[1] == attention.shape[2]:
        out["attention"] = attention.mean(axis=0)
    weights = arrays.get("explain_variable_weights")
    if weights is not None and weights.ndim == 3:
        per_point = weights.mean(axis=1)  # (points, n_in): each point's mean over its window
        out["variable_weights"] = per_point.mean(axis=0)
        out["variable_weights_spread"] = per_point.std(axis=0)
        out["variable_weights_by_step"] = weights.mean(axis=0).T
    return out


def _components(arrays: dict[str, np.ndarray], n: int) -> list[str]:
    names = arrays.get("in_components")
    return [str(c) for c in names] if names is not None and len(names) == n else [f"input {i}" for i in range(n)]


def _ticks(ax: Any, axis: str, labels: list[str]) -> None:
    every = max(1, len(labels) // 12)
    getattr(ax, f"set_{axis}ticks")(range(0, len(labels), every), labels[::every])


def attention_figure(arrays: dict[str, np.ndarray], method_name: str) -> Any:
    """Mean attention ``(T, T)``: row = output step, column = the step it attends to."""
    plt = _pyplot()
    mean = explanation_summaries(arrays)["attention"]
    steps = mean.shape[0]
    labels = _time_labels(arrays, steps)
    fig, ax = plt.subplots(figsize=(max(5, 0.3 * steps + 3), max(4, 0.3 * steps + 2)))
    image = ax.imshow(mean, cmap="viridis", interpolation="nearest", vmin=0)
    _ticks(ax, "x", labels)
    _ticks(ax, "y", labels)
    ax.set_xlabel("attended step (key)")
    ax.set_ylabel("output step (query)")
    ax.set_title(f"{method_name}: mean attention over {len(arrays['explain_attention'])} points", fontsize=10)
    fig.colorbar(image, ax=ax, label="attention weight")
    return fig


def variable_selection_figure(arrays: dict[str, np.ndarray], method_name: str) -> Any:
    """Mean selection weight per input component (bars) and per component and step (heatmap)."""
    plt = _pyplot()
    summary = explanation_summaries(arrays)
    by_step = summary["variable_weights_by_step"]
    n_in, steps = by_step.shape
    names = _components(arrays, n_in)
    fig, (bars, heat) = plt.subplots(1, 2, figsize=(max(9, 0.3 * steps + 7), max(3.5, 0.35 * n_in + 2)),
                                     gridspec_kw={"width_ratios": [1, 2]})
    bars.barh(range(n_in), summary["variable_weights"], xerr=summary["variable_weights_spread"], color="tab:blue", capsize=3)
    bars.set_yticks(range(n_in), names)
    bars.invert_yaxis()  # first component on top, as in the heatmap
    bars.set_xlabel("mean selection weight (error bar: sd over points)")
    bars.set_title("variable selection", fontsize=10)
    image = heat.imshow(by_step, aspect="auto", cmap="viridis", interpolation="nearest", vmin=0)
    heat.set_yticks(range(n_in), names)
    _ticks(heat, "x", _time_labels(arrays, steps))
    heat.set_xlabel("input time step")
    heat.set_title("selection weight per step", fontsize=10)
    fig.colorbar(image, ax=heat, label="selection weight")
    fig.suptitle(f"{method_name}: variable selection over {len(arrays['explain_variable_weights'])} points", fontsize=10)
    return fig


def explanation_plots(arrays: dict[str, np.ndarray], folder: Path, name: str, arch_name: str) -> list[Path]:
    """The plots of the model's own weights found in ``arrays`` (none when it has none)."""
    summary = explanation_summaries(arrays)
    written = []
    if "attention" in summary:
        written.append(_save(attention_figure(arrays, arch_name), folder / f"{name}_attention.png"))
    if "variable_weights" in summary:
        written.append(_save(variable_selection_figure(arrays, arch_name), folder / f"{name}_variable_selection.png"))
    return written
