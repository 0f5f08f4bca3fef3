"""Property: importing any table either stores exactly its finite cells or refuses with one
KnowItDataError line, never a traceback and never a partial dataset (Hypothesis, ~30 examples)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowit.data.importing import import_dataset
from knowit.data.store import DatasetStore
from knowit.errors import KnowItDataError

NAMES = ["a", "b", "x 1", "ü", "1", "", "time", "__x", "y.y", "a"]  # "a" twice: duplicate names
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e39, -1e39, 3.4e38, np.nan, 0.0]))


@st.composite
def columns(draw, n: int):
    kind = draw(st.sampled_from(["float", "int", "bool", "text", "numbers-as-text", "mixed"]))
    if kind == "float":
        return np.array(draw(st.lists(FLOATS, min_size=n, max_size=n)), dtype=np.float64)
    if kind == "int":
        return np.array(draw(st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n)), dtype=np.int64)
    if kind == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    if kind == "text":
        return np.array(draw(st.lists(st.text(max_size=3), min_size=n, max_size=n)), dtype=object)
    numbers = [str(v) for v in draw(st.lists(st.integers(-99, 99), min_size=n, max_size=n))]
    if kind == "mixed":
        numbers[draw(st.integers(0, n - 1))] = draw(st.sampled_from(["n/a", "x", "", "1e999"]))
    return np.array(numbers, dtype=object)


@st.composite
def tables(draw):
    n = draw(st.integers(1, 12))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4))
    frame = pd.DataFrame({i: draw(columns(n)) for i in range(len(names))})
    frame.columns = names
    time = draw(st.sampled_from(["none", "numeric", "dates", "shuffled"]))
    if time != "none" and "time" not in names:
        steps = np.arange(n, dtype=np.float64)
        if time == "shuffled":
            steps = np.random.default_rng(n).permutation(steps)
        frame.insert(0, "time", pd.date_range("2020-01-31", periods=n, freq="ME")[steps.astype(int)] if time == "dates" else steps * 0.5)
    return frame


def _expected(frame: pd.DataFrame, components: list[str]) -> np.ndarray:
    """What the importer keeps, in its order: rows sorted by time (stable), the first row of each
    repeated timestamp, then those whose component cells are all finite numbers (float32)."""
    values = np.stack([pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64) for c in components], axis=1)
    if "time" in frame.columns:
        times = frame["time"].to_numpy()
        order = np.argsort(times, kind="stable")
        values, times = values[order], times[order]
        values = values[np.concatenate([[True], times[1:] != times[:-1]])]
    return values[np.isfinite(values).all(axis=1)].astype(np.float32)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(frame=tables())
def test_import_stores_the_finite_cells_or_refuses_in_one_line(tmp_path_factory, frame):
    store = DatasetStore(tmp_path_factory.mktemp("exp"))
    try:
        data = import_dataset(store, frame, {"name": "p", "min_rows": 1})
    except KnowItDataError as err:
        assert "\n" not in str(err).strip() and str(err).split(":")[0] in ("data_import.raw_data", "meta.components", "meta.time_column"), str(err)
        assert store.names() == [] and (not store.root.exists() or not any(store.root.iterdir()))  # nothing half-written
        return
    numeric = [c for c in frame.columns if c != "time" and pd.api.types.is_numeric_dtype(frame[c])]
    assert set(numeric) <= set(data.components)  # no numeric column dropped silently
    stored = store.load_series("p")
    np.testing.assert_array_equal(stored.values, _expected(frame, data.components))
    assert stored.n_rows == int(stored.slices[:, 2].sum())
