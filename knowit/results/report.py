"""The numbers behind the result plots, from a tidy predictions table (``predictions.set_frame``).

Classification: confusion matrix (rows = true class, columns = predicted class) and a
per-class report (precision, recall, F1, support) where predictions whose top probability is
below ``min_probability`` are withheld (counted, not guessed). Regression: r2 per output
component, in original units. Everything here is plain JSON-ready containers.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def class_names_of(frame: pd.DataFrame) -> list[str]:
    return [c[len("prob_"):] for c in frame.columns if c.startswith("prob_")]


def confusion_matrix(frame: pd.DataFrame) -> dict[str, Any]:
    classes = class_names_of(frame)
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(matrix, (frame["target"].map(index).to_numpy(), frame["prediction"].map(index).to_numpy()), 1)
    return {"classes": classes, "matrix": matrix.tolist(), "rows": "true", "columns": "predicted"}


def classification_report(frame: pd.DataFrame, min_probability: float = 0.0) -> dict[str, Any]:
    """Per-class precision/recall/F1/support over the predictions at or above ``min_probability``."""
    classes = class_names_of(frame)
    confident = frame[[f"prob_{c}" for c in classes]].to_numpy().max(axis=1) >= min_probability
    kept = frame[confident]
    per_class = {}
    for c in classes:
        tp = int(((kept["prediction"] == c) & (kept["target"] == c)).sum())
        predicted, actual = int((kept["prediction"] == c).sum()), int((kept["target"] == c).sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    n = len(kept)
    return {
        "min_probability": min_probability,
        "covered": n,
        "withheld": int(len(frame) - n),
        "accuracy": float((kept["prediction"] == kept["target"]).mean()) if n else 0.0,
        "classes": per_class,
        "macro_avg": {k: float(np.mean([v[k] for v in per_class.values()])) for k in ("precision", "recall", "f1")},
    }


def r2_by_component(frame: pd.DataFrame) -> dict[str, float]:
    out = {}
    for component, part in frame.groupby("component", sort=False):
        t, p = part["target"].to_numpy(), part["prediction"].to_numpy()
        total = float(((t - t.mean()) ** 2).sum())
        out[str(component)] = 1.0 - float(((t - p) ** 2).sum()) / total if total > 0 else float("nan")
    return out


def set_report(frame: pd.DataFrame, task: str, set_name: str, min_probability: float = 0.0) -> dict[str, Any]:
    """What ``summary.json`` records about a set: confusion matrix or r2."""
    if task == "classification":
        return {"set": set_name, "confusion_matrix": confusion_matrix(frame), "classification_report": classification_report(frame, min_probability)}
    return {"set": set_name, "r2": r2_by_component(frame)}


def set_report_from_arrays(outputs: np.ndarray, targets: np.ndarray, prepared: Any, set_name: str) -> dict[str, Any]:
    """``set_report`` straight from a set's model outputs and targets (no tidy table: cheap on long series)."""
    if prepared.task == "classification":
        names = list(prepared.class_names)
        matrix = np.zeros((len(names), len(names)), dtype=np.int64)
        np.add.at(matrix, (targets.astype(np.int64), outputs.argmax(-1)), 1)
        return {"set": set_name, "confusion_matrix": {"classes": names, "matrix": matrix.tolist(), "rows": "true", "columns": "predicted"}}
    out, tgt = prepared.descale_outputs(outputs), prepared.descale_outputs(targets)
    components = list(getattr(prepared, "out_components", [])) or [str(i) for i in range(out.shape[-1])]
    out = out.reshape(len(out), -1, len(components)) if len(components) == out.shape[-1] else out.reshape(len(out), -1, 1)
    tgt = tgt.reshape(out.shape)
    r2 = {}
    for k, name in enumerate(components if out.shape[-1] == len(components) else ["0"]):
        t, p = tgt[..., k].astype(np.float64).ravel(), out[..., k].astype(np.float64).ravel()
        total = float(((t - t.mean()) ** 2).sum())
        r2[name] = 1.0 - float(((t - p) ** 2).sum()) / total if total > 0 else float("nan")
    return {"set": set_name, "r2": r2}
