"""Classification targets: class counts per set and optional class weights for the loss."""
from __future__ import annotations

import numpy as np

from knowit.errors import KnowItDataError

WEIGHT_CHOICES = ("balanced",)


def count_classes(codes: np.ndarray, class_names: list[str]) -> dict[str, int]:
    counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=len(class_names))
    return {c: int(k) for c, k in zip(class_names, counts)}


def class_weights(spec: str | list[float] | None, train_counts: dict[str, int]) -> list[float] | None:
    """``None``; ``'balanced'`` (``n_train / (n_classes * count)``, 0 for a class absent from
    training); or one explicit non-negative weight per class."""
    if spec is None:
        return None
    n_classes = len(train_counts)
    if isinstance(spec, str):
        if spec not in WEIGHT_CHOICES:
            raise KnowItDataError(f"data.class_weights: {spec!r} is not one of {', '.join(WEIGHT_CHOICES)} or a list of {n_classes} weights")
        counts = np.array(list(train_counts.values()), dtype=np.float64)
        total = counts.sum()
        return [float(total / (n_classes * c)) if c > 0 else 0.0 for c in counts]
    weights = [float(w) for w in spec]
    if len(weights) != n_classes or any(w < 0 for w in weights):
        raise KnowItDataError(f"data.class_weights: expected {n_classes} non-negative weights (classes {', '.join(train_counts)}), got {list(spec)}")
    return weights


def check_stored_codes(codes: np.ndarray, class_names: list[str], dataset: str, column: str) -> None:
    """Stored class codes must index the stored class names (a hand-edited or damaged store
    would otherwise fail deep inside the loss)."""
    codes = np.asarray(codes)
    if codes.size == 0:
        return
    finite = codes[np.isfinite(codes)] if codes.dtype.kind == "f" else codes
    bad = finite[(finite < 0) | (finite >= len(class_names)) | (finite != np.round(finite))]
    if bad.size:
        raise KnowItDataError(
            f"data.name: stored dataset {dataset!r} holds class code {bad[0].item()!r} in {column!r}, but its metadata lists "
            f"{len(class_names)} classes ({', '.join(map(str, class_names[:10]))}); the store is damaged: import the dataset again"
        )
