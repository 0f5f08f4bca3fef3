"""``LoadedRun.predict(frame)`` on rows a run has never seen, shaped as the user's own table:
an hourly sensor log whose new rows carry the dataset's time column across a gap."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest


def _log(start: str, hours: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stamps = pd.date_range(start, periods=hours, freq="h")
    ambient = 12 + 8 * np.sin(2 * np.pi * stamps.hour.to_numpy() / 24) + rng.normal(0, 0.3, hours)
    return pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "ambient_c": ambient.round(3),
                         "motor_temp_c": (40 + 0.6 * ambient + rng.normal(0, 0.3, hours)).round(3)})


@pytest.fixture(scope="module")
def sensor_run(tmp_path_factory):
    """A run on an hourly log (time column ``timestamp``), inputs over the last 8 hours."""
    from conftest import TINY_ARCH, TINY_TRAINER
    from knowit import KnowIt

    ki = KnowIt(tmp_path_factory.mktemp("exp"))
    ki.import_dataset({"data_import": {"raw_data": _log("2024-03-01", 300), "meta": {
        "name": "sensor", "time_column": "timestamp", "targets": ["motor_temp_c"]}}})
    data = {"name": "sensor", "in_components": ["ambient_c"], "out_components": ["motor_temp_c"], "in_chunk": [-7, 0], "out_chunk": [1, 2]}
    result = ki.train_model("sensor_m", {"data": data, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER})
    return KnowIt.load(result.run_dir)


def _predict(run, frame):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = run.predict(frame)
    return out, [str(w.message) for w in caught if "new_data" in str(w.message)]


def test_a_frame_with_a_gap_in_its_time_column_is_cut_there(sensor_run):
    """40 hours, then the sensor was off for three days, then 30 hours: windows read rows from
    both sides of the gap as if they were consecutive hours (before: 70 - 7 = 63 points)."""
    frame = pd.concat([_log("2024-05-01", 40, seed=1), _log("2024-05-04 16:00", 30, seed=2)], ignore_index=True)
    out, said = _predict(sensor_run, frame)
    assert len(out) == (40 - 7) + (30 - 7)
    assert list(out.index[:2]) == [7, 8] and list(out.index[32:34]) == [39, 47]  # no point whose window holds the gap
    # each point's time comes first, under the frame's time column: the hour each forecast starts from
    assert list(out.columns) == ["timestamp", "motor_temp_c@+1", "motor_temp_c@+2"]
    assert list(out["timestamp"].iloc[32:34]) == [pd.Timestamp("2024-05-02 15:00"), pd.Timestamp("2024-05-04 23:00")]
    assert said == ["new_data: column 'timestamp' skips from 2024-05-02 15:00:00 to 2024-05-04 16:00:00 (the run's step is 1 h); "
                    "no window crosses a gap, so the frame is read as 2 stretches of 40, 30 rows"]
    # every point after the gap is predicted from its own stretch only, exactly as the stretch alone
    after, quiet = _predict(sensor_run, frame.iloc[40:])
    forecasts = ["motor_temp_c@+1", "motor_temp_c@+2"]
    assert quiet == [] and np.allclose(out.loc[after.index, forecasts].to_numpy(), after[forecasts].to_numpy())
    # a frame whose time is its DatetimeIndex is cut the same way (the index then holds the times)
    indexed, _ = _predict(sensor_run, frame.drop(columns="timestamp").set_index(pd.to_datetime(frame["timestamp"])))
    assert list(indexed.columns) == forecasts and list(indexed.index) == list(out["timestamp"])
    assert np.allclose(indexed.to_numpy(), out[forecasts].to_numpy())


def test_a_frame_too_short_between_its_gaps_or_out_of_order_is_refused(sensor_run):
    from knowit.errors import KnowItDataError

    short = pd.concat([_log("2024-05-01", 6, seed=1), _log("2024-05-04", 5, seed=2)], ignore_index=True)
    with pytest.raises(KnowItDataError) as err:
        _predict(sensor_run, short)
    assert str(err.value) == ("new_data: the longest stretch without a gap (column 'timestamp' skips from 2024-05-01 05:00:00 to "
                              "2024-05-04 00:00:00) has 6 rows and cannot hold one input window of 8 rows (data.in_chunk=[-7, 0])")
    shuffled = _log("2024-05-01", 20).iloc[[0, 1, 3, 2, *range(4, 20)]]
    with pytest.raises(KnowItDataError, match=r"^new_data: column 'timestamp' is not in increasing time order: row 2 \(2024-05-01 02:00:00\) "
                                               r"follows 2024-05-01 03:00:00; sort the frame by time"):
        _predict(sensor_run, shuffled)
    # without the time column the rows are read as consecutive steps, as documented
    out, said = _predict(sensor_run, short.drop(columns="timestamp"))
    assert len(out) == 11 - 7 and said == []
