"""Labels of the values of one output: its step (offset from the point) and its component.

Shared by both kinds of prepared data (``prepared_series.py``, ``prepared_arrays.py``) for
outputs that have no (step, component) axes.
"""
from __future__ import annotations

import numpy as np


def flat_output_labels(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Step 0 and the flat index as the component name, for outputs without (step, component) axes."""
    size = int(np.prod(shape))
    return np.zeros(size, dtype=np.int64), np.asarray([str(i) for i in range(size)], dtype=object)
