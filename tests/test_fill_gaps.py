"""Missing periods filled at import (``meta.fill_gaps`` / ``--fill-gaps``): a few missing days no
longer cut a series into slices; longer gaps still do; the stream gives what one batch gives."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from knowit.data.frequency import periods_after
from knowit.data.store import DatasetStore
from knowit.errors import KnowItDataError

DAYS = pd.date_range("2024-01-01", periods=60, freq="D")


def _shop_export(tmp_path) -> tuple[pd.DataFrame, str]:
    """Two stores' daily sales as an export has them: store A misses 2 days, then 1, then 9 (a
    refit closure); store B misses 3 days; a weather label column."""
    rows = []
    for store, skip in (("A", {5, 6, 20, *range(28, 37)}), ("B", {11, 12, 13})):
        for i, day in enumerate(DAYS):
            if i not in skip:
                rows.append({"date": day.strftime("%Y-%m-%d"), "store": store, "sales": 1000.0 + 10 * i + (500 if store == "B" else 0),
                             "weather": "rain" if i % 4 == 0 else "sun"})
    frame = pd.DataFrame(rows)
    path = tmp_path / "shop.csv"
    frame.to_csv(path, index=False)
    return frame, str(path)


def _import(ki, path, batch_rows=None, **meta):
    base = {"name": "shop", "time_column": "date", "instance_column": "store", "labels": ["weather"]}
    return ki.import_dataset({"data_import": {"raw_data": path, "meta": {**base, **meta}}}, overwrite=True, batch_rows=batch_rows)


def test_short_gaps_are_filled_linearly_and_a_long_one_still_cuts(ki, exp_dir, tmp_path):
    _, path = _shop_export(tmp_path)
    summary = _import(ki, path, fill_gaps=3, nan_handling="linear")
    assert summary["filled_gaps"] == {"gaps": 3, "rows": 6, "longer_gaps": 1, "up_to": 3, "by": "linear"}
    data = DatasetStore(exp_dir).load_series("shop")
    assert data.slices.tolist() == [[0, 0, 28], [0, 28, 23], [1, 51, 60]]  # A: days 0-27, 37-59; B whole
    sales = np.asarray(data.values[:, data.components.index("sales")])
    # the filled days lie on the straight line between their neighbours: here 1000 + 10 * day
    np.testing.assert_allclose(sales[:28], 1000.0 + 10 * np.arange(28))
    np.testing.assert_allclose(sales[51:], 1500.0 + 10 * np.arange(60))
    times = pd.to_datetime(np.asarray(data.times).astype(np.int64))
    assert list(times[:28]) == list(DAYS[:28]) and list(times[51:]) == list(DAYS)
    # labels are never interpolated: a filled day takes the nearer day's label, the earlier on a tie
    weather = np.asarray(data.categories["weather"])[np.asarray(data.values[:, data.components.index("weather")]).astype(int)]
    assert weather[5] == "rain" and weather[6] == "sun"  # days 5, 6 between day 4 (rain) and day 7 (sun)
    assert data.class_counts["weather"] == {"rain": int((weather == "rain").sum()), "sun": int((weather == "sun").sum())}


def test_a_stream_of_small_batches_fills_what_one_batch_fills(ki, exp_dir, tmp_path):
    _, path = _shop_export(tmp_path)
    whole = _import(ki, path, fill_gaps=3, nan_handling="ffill")
    data = DatasetStore(exp_dir).load_series("shop")
    rows, times = np.array(data.values), np.array(data.times)
    for batch_rows in (4, 7):  # gaps fall across batch boundaries
        streamed = _import(ki, path, batch_rows=batch_rows, fill_gaps=3, nan_handling="ffill")
        again = DatasetStore(exp_dir).load_series("shop")
        np.testing.assert_array_equal(np.asarray(again.values), rows)
        np.testing.assert_array_equal(np.asarray(again.times), times)
        assert streamed["content_hash"] == whole["content_hash"] and streamed["filled_gaps"] == whole["filled_gaps"]


def test_calendar_periods_after_a_row_follow_the_calendar_in_the_series_zone():
    berlin = pd.DatetimeIndex(["2024-01-01 00:00", "2024-03-01 00:00"]).tz_localize("Europe/Berlin")
    utc_ns = berlin.tz_convert("UTC").tz_localize(None).as_unit("ns").asi8  # stored times are UTC nanoseconds
    got = periods_after(utc_ns, np.array([2, 1]), freq="MS", delta=0.0, tz="Europe/Berlin")
    want = pd.DatetimeIndex(["2024-02-01", "2024-03-01", "2024-04-01"]).tz_localize("Europe/Berlin")  # local midnights, CET and CEST
    assert got.tolist() == want.tz_convert("UTC").tz_localize(None).as_unit("ns").asi8.tolist()
    hourly = periods_after(np.array([0.0, 10 * 3.6e12]), np.array([1, 2]), freq="h", delta=3.6e12)
    assert hourly.tolist() == [3.6e12, 11 * 3.6e12, 12 * 3.6e12]


@pytest.mark.parametrize("meta, message", [
    ({"fill_gaps": 3}, r"meta\.fill_gaps: filled periods take their values the way meta\.nan_handling fills .* it is 'split'"),
    ({"fill_gaps": -1, "nan_handling": "linear"}, r"meta\.fill_gaps: expected the most missing periods in a row to fill"),
    ({"fill_gaps": "3", "nan_handling": "linear"}, r"meta\.fill_gaps: expected"),
])
def test_bad_fill_settings_are_refused_naming_the_key(ki, tmp_path, meta, message):
    _, path = _shop_export(tmp_path)
    with pytest.raises(KnowItDataError, match=message):
        _import(ki, path, **meta)


def test_cli_fills_gaps_and_names_its_flags_when_refusing(cli_main, tmp_path, exp_dir):
    _shop_export(tmp_path)
    base = ["import", "shop.csv", "--name", "shop", "--time-column", "date", "--instance-column", "store", "--labels", "weather"]
    refused = cli_main([*base, "--fill-gaps", "3"], cwd=tmp_path, exp_dir=exp_dir)
    assert refused.returncode == 2 and "--fill-gaps: filled periods take their values the way --nan-handling fills" in refused.stderr
    out = cli_main([*base, "--fill-gaps", "3", "--nan-handling", "linear"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0, out.stderr
    assert "filled_gaps: {'gaps': 3, 'rows': 6, 'longer_gaps': 1" in out.stdout


def test_a_filled_row_is_an_input_but_never_a_target(ki, exp_dir, tmp_path):
    """Points whose output window holds a filled row are left out of every set: no loss is fitted
    to a made-up value and no metric scores one; windows still read filled rows as inputs."""
    from knowit.config.schema import DataConfig
    from knowit.data.prepared import prepare_dataset

    _, path = _shop_export(tmp_path)
    _import(ki, path, fill_gaps=3, nan_handling="linear")
    data = DatasetStore(exp_dir).load_series("shop")
    assert data.filled_runs.tolist() == [[5, 2], [20, 1], [62, 3]]  # A's days 5-6 and 20; B's 11-13 (B starts at row 51)
    cfg = DataConfig(name="shop", out_components=["sales"], in_chunk=[-3, 0], out_chunk=[1, 2], split_method="random")
    prepared = prepare_dataset(cfg, DatasetStore(exp_dir), seed=0)
    points = np.concatenate(list(prepared.sets.values()))
    filled = {5, 6, 20, 62, 63, 64}
    assert not filled & {int(p) + k for p in points for k in (1, 2)}
    assert {int(p) - k for p in filled for k in (1, 2)} - set(points.tolist())  # they were points before
    assert prepared.filled_targets == prepared.n_points - len(points) == 3 + 2 + 4  # a gap of k rows, 2 output steps: k + 1 points
    assert {int(p) for p in points} & {f + 3 for f in filled}  # inputs may hold filled rows
    again = _import(ki, path, fill_gaps=0, nan_handling="linear")
    assert again["content_hash"] != data.content_hash


def test_a_new_frame_s_short_gaps_are_filled_as_the_run_s_dataset_was(ki, exp_dir, tmp_path):
    """``LoadedRun.predict(frame)`` on a run whose dataset was imported with --fill-gaps: a
    two-day gap in the frame is filled the same way (not cut), and forecasts start only from the
    frame's own rows, equal to those on the frame filled by hand."""
    import warnings

    from conftest import TINY_ARCH, TINY_TRAINER

    from knowit import KnowIt

    _, path = _shop_export(tmp_path)
    _import(ki, path, fill_gaps=3, nan_handling="linear")
    data = {"name": "shop", "in_components": ["sales"], "out_components": ["sales"], "in_chunk": [-3, 0], "out_chunk": [1, 1]}
    run = KnowIt.load(ki.train_model("m", {"data": data, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER}).run_dir)
    days = pd.date_range("2024-03-01", periods=12, freq="D")
    whole = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "sales": 2000.0 + 7 * np.arange(12) ** 1.5})
    gappy = whole.drop(index=[5, 6])  # two missing days
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = run.predict(gappy)
    said = [str(w.message) for w in caught if "new_data" in str(w.message)]
    assert said == ["new_data: column 'date': filled 1 gap (2 rows, linear) as the import filled the run's dataset "
                    "(gaps of up to 3 missing periods); no forecast starts from a filled row"]
    assert list(out.index) == [3, 4, 7, 8, 9, 10, 11]  # every own row with 3 days before it (filled ones count)
    by_hand = whole.copy()
    by_hand.loc[[5, 6], "sales"] = np.interp([5, 6], [4, 7], whole["sales"].iloc[[4, 7]])
    expected = run.predict(by_hand).loc[out.index]
    np.testing.assert_allclose(out["sales"].to_numpy(), expected["sales"].to_numpy(), rtol=1e-6)
    assert list(out["date"]) == list(days[out.index])


def test_a_new_frame_s_filled_rows_take_the_nearer_label_as_at_import(ki, exp_dir, tmp_path):
    """A class-label input column (weather codes) in a frame's filled rows takes the nearer side's
    code, as the import fills it, never an interpolated code between two classes."""
    from conftest import TINY_ARCH, TINY_TRAINER

    from knowit import KnowIt
    from knowit.results.inference import windows_from_frame

    _, path = _shop_export(tmp_path)
    _import(ki, path, fill_gaps=3, nan_handling="linear")
    data = {"name": "shop", "in_components": ["sales", "weather"], "out_components": ["sales"], "in_chunk": [-4, 0], "out_chunk": [1, 1]}
    run = KnowIt.load(ki.train_model("m", {"data": data, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER}).run_dir)
    days = pd.date_range("2024-03-01", periods=10, freq="D")
    frame = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "sales": 2000.0 + np.arange(10), "weather": [0.0] * 5 + [1.0] * 5})
    with pytest.warns(UserWarning, match="filled 1 gap"):
        windows, _, _ = windows_from_frame(run, frame.drop(index=[4, 5, 6]))  # codes 0 (day 3) and 1 (day 7) either side
    # the first forecast starts at day 7: days 3-7 read 0, filled 0, 0 (a tie: the earlier), 1, then 1 (not 0.25, 0.5, 0.75)
    assert windows[0, :, 1].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_missing_days_are_told_beside_a_run_of_rows_dropped_for_missing_values(ki, tmp_path):
    """Three consecutive rows dropped for a missing value make one gap of three periods; two days
    missing from the file are still told with the fix (the count compares periods, not gaps)."""
    days = pd.date_range("2024-01-01", periods=100, freq="D")  # slices of 20, 37, 34, 4 rows
    frame = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "v": np.arange(100.0)})
    frame.loc[20:22, "v"] = np.nan
    path = tmp_path / "nan_rows.csv"
    frame.drop(index=[60, 100 - 5]).to_csv(path, index=False)
    with pytest.warns(UserWarning, match=r"3 gaps of 1 to 3 missing periods .*: meta\.fill_gaps=3 and meta\.nan_handling=linear$"):
        ki.import_dataset({"data_import": {"raw_data": str(path), "meta": {"name": "nan_rows", "time_column": "date"}}})


def test_a_backtest_fold_never_scores_a_filled_row(ki, exp_dir, tmp_path):
    """The folds of ``backtest`` (and of a sweep's backtest objective) leave out the points whose
    output window holds a filled row, as the run's own sets do."""
    from knowit.comparison.backtest import fold_layout
    from knowit.data.windows import WindowSpec, expand_ranges, point_ranges

    days = pd.date_range("2024-01-01", periods=100, freq="D")
    path = tmp_path / "late_gaps.csv"
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "v": np.arange(100.0)}).drop(index=[80, 88, 95]).to_csv(path, index=False)
    ki.import_dataset({"data_import": {"raw_data": str(path), "meta": {"name": "late", "time_column": "date", "fill_gaps": 1,
                                                                        "nan_handling": "linear"}}})
    data = DatasetStore(exp_dir).load_series("late")
    spec = WindowSpec(in_chunk=(-3, 0), out_chunk=(1, 2))
    folds = fold_layout(data, *point_ranges(data.slices, spec), spec, [0.6, 0.2, 0.2], 3, "expanding")
    filled = set(expand_ranges(data.filled_runs[:, 0], data.filled_runs[:, 1]).tolist())
    assert filled == {80, 88, 95}
    scored = {int(p) + k for fold in folds for name in ("train", "valid", "test") for p in fold.sets[name] for k in (1, 2)}
    assert not scored & filled


def test_a_series_cut_short_by_its_gaps_is_refused_with_the_fill_that_joins_it(ki, tmp_path):
    """Every fifth day missing: no slice holds a window. The refusal names --fill-gaps, which
    joins the series, beside --min-rows; with it the import goes through as one slice."""
    days = pd.date_range("2024-01-01", periods=200, freq="D")
    frame = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "sales": np.arange(200.0)})[np.arange(200) % 5 != 4]
    path = tmp_path / "holey.csv"
    frame.to_csv(path, index=False)
    meta = {"name": "holey", "time_column": "date"}
    with pytest.raises(KnowItDataError, match=r"--min-rows\) to import it anyway, or fill its gaps of up to 1 missing period"
                                              r": meta\.fill_gaps=1 and meta\.nan_handling=linear"):
        ki.import_dataset({"data_import": {"raw_data": str(path), "meta": meta}})
    filled = ki.import_dataset({"data_import": {"raw_data": str(path), "meta": {**meta, "fill_gaps": 1, "nan_handling": "linear"}}})
    assert filled["n_slices"] == 1 and filled["n_rows"] == 199


def test_a_missing_cell_beside_a_missing_day_is_interpolated_by_time(ki, exp_dir, tmp_path):
    """Day 4's cell is empty and day 5 has no row: by row, day 4 would get the mean of days 3
    and 6 (4.5); by time it gets 4.0, and the filled day 5 then 5.0 (h38's store trial)."""
    days = pd.date_range("2024-01-01", periods=40, freq="D")
    frame = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "v": np.arange(40.0)})
    frame.loc[4, "v"] = np.nan
    path = tmp_path / "cells.csv"
    frame.drop(index=5).to_csv(path, index=False)
    ki.import_dataset({"data_import": {"raw_data": str(path), "meta": {
        "name": "cells", "time_column": "date", "nan_handling": "linear", "fill_gaps": 1}}})
    stored = np.asarray(DatasetStore(exp_dir).load_series("cells").values[:, 0])
    np.testing.assert_allclose(stored, np.arange(40.0))


def test_a_new_frame_s_text_labels_read_as_the_dataset_s_codes_and_bad_cells_are_named(ki, exp_dir, tmp_path):
    """A frame shaped like the imported table: its label column holds text ('rain'), read as the
    dataset's class codes; an unknown label or an empty cell is one line naming column and row."""
    from conftest import TINY_ARCH, TINY_TRAINER

    from knowit import KnowIt

    _, path = _shop_export(tmp_path)
    _import(ki, path, fill_gaps=3, nan_handling="linear")
    data = {"name": "shop", "in_components": ["sales", "weather"], "out_components": ["sales"], "in_chunk": [-3, 0], "out_chunk": [1, 1]}
    run = KnowIt.load(ki.train_model("lab", {"data": data, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER}).run_dir)
    days = pd.date_range("2024-03-01", periods=8, freq="D")
    text = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "sales": 2000.0 + np.arange(8), "weather": ["rain", "sun"] * 4})
    codes = text.assign(weather=[DatasetStore(exp_dir).load_series("shop").categories["weather"].index(w) for w in text["weather"]])
    np.testing.assert_allclose(run.predict(text)["sales"].to_numpy(), run.predict(codes)["sales"].to_numpy())
    with pytest.raises(KnowItDataError, match=r"new_data: column 'weather' row 2 holds 'snow', not one of the dataset's classes \(rain, sun\)"):
        run.predict(text.assign(weather=["rain", "sun", "snow", "sun"] * 2))
    with pytest.raises(KnowItDataError, match=r"new_data: column 'sales' row 3 is empty; the model reads finite numbers"):
        run.predict(text.assign(sales=[1.0, 2.0, 3.0, np.nan, 5.0, 6.0, 7.0, 8.0]))
