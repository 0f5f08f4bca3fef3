"""Tables as users bring them: daily sales of several stores with dates as text and a store
column, imported without naming those columns. The import must say what it did with them."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest


def _stores_table(n_stores: int = 3, days: int = 40) -> pd.DataFrame:
    """Stores in sorted blocks, ``date`` as ISO text, ``store`` as text, sales in the thousands."""
    rng = np.random.default_rng(0)
    dates = pd.date_range("2023-01-01", periods=days, freq="D").strftime("%Y-%m-%d")
    parts = [
        pd.DataFrame({"date": dates, "store": f"store_{s:02d}", "sales": rng.uniform(2000, 9000, days).round(2), "promo": rng.integers(0, 2, days)})
        for s in range(n_stores)
    ]
    return pd.concat(parts, ignore_index=True)


def _import(ki, path, **meta):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = ki.import_dataset({"data_import": {"raw_data": str(path), "meta": {"name": "shop", "targets": ["sales"], **meta}}})
    return data, [str(w.message) for w in caught]


def test_a_date_column_left_out_as_text_is_named_with_the_key_to_use(ki, tmp_path):
    path = tmp_path / "sales.csv"
    _stores_table().to_csv(path, index=False)
    _, said = _import(ki, path)
    hints = [m for m in said if "time_column" in m]
    assert len(hints) == 1, said
    assert "'date' holds dates" in hints[0] and "--time-column date" in hints[0]
    # the store column repeats a few names: the same warning says how to keep stores apart
    assert "'store'" in hints[0] and "--instance-column store" in hints[0]


def test_many_repeated_timestamps_name_the_column_that_tells_series_apart(ki, tmp_path):
    path = tmp_path / "sales.csv"
    _stores_table().to_csv(path, index=False)
    data, said = _import(ki, path, time_column="date")
    drops = [m for m in said if "duplicate timestamps" in m]
    assert len(drops) == 1 and "dropped 80 rows" in drops[0], said
    assert "--instance-column store" in drops[0]
    assert data["n_rows"] == 40


def test_a_table_with_its_columns_named_gets_no_hint(ki, tmp_path):
    path = tmp_path / "sales.csv"
    table = _stores_table()
    table = pd.concat([table.iloc[:5], table.iloc[4:5], table.iloc[5:]])  # one repeated row, as exports have
    table.to_csv(path, index=False)
    data, said = _import(ki, path, time_column="date", instance_column="store")
    assert data["instances"] == ["store_00", "store_01", "store_02"] and data["n_rows"] == 120
    assert [m for m in said if "duplicate" in m] == ["dataset 'shop': dropped 1 row with a duplicate timestamp (0.8% of 121)"]
    assert not [m for m in said if "--time-column" in m or "--instance-column" in m]


def test_a_set_emptied_by_the_purge_gap_names_the_window_as_the_cause(ki, tmp_path):
    """One store's 40 days with a 20-day window: a chronological split purges every valid point
    (its windows all cross a boundary); the message must point at the window, not the portions."""
    from knowit.errors import KnowItDataError

    path = tmp_path / "one.csv"
    _stores_table(n_stores=1).to_csv(path, index=False)
    _import(ki, path, time_column="date", min_rows=20)
    kwargs = {"data": {"name": "shop", "in_chunk": [-19, 0], "out_chunk": [1, 1]}, "trainer": {"max_epochs": 1, "accelerator": "cpu"}}
    with pytest.raises(KnowItDataError) as err:
        ki.train_model("long_window", kwargs)
    message = str(err.value)
    assert message.startswith("data.in_chunk/out_chunk: the valid set is empty with split_method=chronological"), message
    assert "21 rows" in message and "purged" in message
    assert not (ki.exp_dir / "models" / "long_window").exists()


@pytest.mark.parametrize("step_ms", [10, 1])
def test_a_sensor_log_sampled_at_100_hz_or_1_khz_is_one_slice_with_exact_times(ki, step_ms):
    """Stored as float64 nanoseconds, a 2026 time is exact only to 256 ns: a 10 ms step read
    back as 9,999,872 or 10,000,128 ns, every pair of rows was a gap and the import refused
    the log ("longest contiguous slice has 3 rows"). Read back to the microsecond, it is one
    slice at its own frequency, cut only at its real gap, and predictions carry its times."""
    from conftest import TINY_ARCH, TINY_TRAINER

    n = 300
    times = pd.Timestamp("2026-03-01 08:00:00") + pd.to_timedelta(np.arange(n) * step_ms, unit="ms")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"time": times, "a": rng.standard_normal(n), "b": rng.standard_normal(n)}).drop(index=range(150, 155))
    summary = ki.import_dataset({"data_import": {"raw_data": frame, "meta": {"name": "log", "targets": ["b"]}}})
    assert summary["freq"] == {10: "10ms", 1: "ms"}[step_ms] and summary["time_step"] == f"{step_ms} ms"
    assert summary["n_slices"] == 2 and summary["slice_length"]["max"] == 150
    ki.train_model("log_model", {"data": {"name": "log", "in_chunk": [-3, 0], "out_chunk": [1, 1]}, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER})
    predicted = ki.generate_predictions("log_model")
    assert len(predicted) > 0
    assert set(predicted["time"]) <= set(frame["time"])  # the log's own stamps, not 08:00:00.009999872


def test_a_model_on_imported_data_with_the_default_split_backtests_without_refit(ki, tmp_path, capsys):
    """An imported dataset's config leaves ``split_method: auto``, which is chronological for a
    series; the backtest refused it as "trained on a auto split" (the built-in series name
    chronological explicitly, so only users' data met the refusal)."""
    from conftest import TINY_ARCH, TINY_TRAINER
    from knowit.cli import main

    path = tmp_path / "sales.csv"
    _stores_table(n_stores=2, days=120).to_csv(path, index=False)
    _import(ki, path, time_column="date", instance_column="store")
    ki.train_model("shop_m", {"data": {"name": "shop", "in_chunk": [-6, 0], "out_chunk": [1, 2]}, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER})
    assert "split_method: auto" in (ki.exp_dir / "models" / "shop_m" / "config.yaml").read_text()
    assert main(["backtest", "shop_m", "--folds", "2", "--exp-dir", str(ki.exp_dir)]) == 0, capsys.readouterr().err
    assert "backtest: 2 folds, expanding window, the trained model" in capsys.readouterr().out


def test_a_text_cell_deep_in_a_large_csv_gets_knowit_words_not_pandas_advice(ki, tmp_path):
    """pandas reads a CSV batch in pieces and warned "Columns (1: a) have mixed types. Specify
    dtype option on import or set low_memory=False": options a knowit user cannot pass. The
    import's own check names the cell; with --coerce the only warning is the dropped row."""
    n = 300_000
    frame = pd.DataFrame({"time": np.arange(n), "a": np.arange(n) % 7 * 1.5})
    frame["a"] = frame["a"].astype(object)
    frame.loc[n - 5, "a"] = "bad"
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ki.import_dataset({"data_import": {"raw_data": str(path), "meta": {"name": "log", "coerce": True}}})
    assert [str(w.message) for w in caught] == ["dataset 'log': dropped 1 row with a missing value (0.00033% of 300000); each cuts its slice"]


def test_an_empty_column_is_refused_with_the_components_that_leave_it_out(tmp_path, exp_dir, cli_main):
    table = _stores_table(n_stores=1)
    table["returns"] = np.nan  # a column the export always writes, never filled
    table.to_csv(tmp_path / "one.csv", index=False)
    out = cli_main(["import", "one.csv", "--name", "shop", "--time-column", "date", "--min-rows", "10"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr == ("knowit: error: --components: column 'returns' holds only missing values; "
                          "leave it out by naming the others: --components sales,promo\n"), out.stderr
    assert not (exp_dir / "datasets" / "shop").exists()



def test_predicted_rows_gather_into_one_growing_block():
    """``predict_set`` keeps a set's outputs, targets and points in one block per array that
    doubles when full, not one small tensor per batch: on a 4M-row sensor log, predicting the
    800k-point test set in batches of 4096 held 2 GB of glibc heap that way (pinned by the
    16 KB results between the forward's freed activations; measured, see the issue-25 note)."""
    from knowit.results.predictions import GrowingRows

    rows = GrowingRows()
    batches = [np.full((n, 1, 2), k, dtype=np.float32) for k, n in enumerate([700, 1000, 3, 4096, 1])]
    sizes = []
    for batch in batches:
        rows.add(batch)
        sizes.append(len(rows.block))
    assert np.array_equal(rows.rows(), np.concatenate(batches)) and rows.rows().dtype == np.float32
    assert sizes == [1024, 2048, 2048, 5799, 11598]  # at least doubled when full: a few blocks, not one per batch


def test_predicting_a_frame_of_several_stores_is_refused_naming_the_column(ki, tmp_path):
    """``KnowIt.load(run).predict(frame)`` reads a frame as one series: the tail of a store table
    holding two stores gave windows that ran from one store into the next, silently."""
    from conftest import TINY_ARCH, TINY_TRAINER
    from knowit import KnowIt
    from knowit.errors import KnowItDataError

    table = _stores_table(n_stores=2, days=60)
    table.to_csv(tmp_path / "sales.csv", index=False)
    _import(ki, tmp_path / "sales.csv", time_column="date", instance_column="store")
    result = ki.train_model("shop_m", {"data": {"name": "shop", "in_components": ["sales", "promo"], "in_chunk": [-6, 0], "out_chunk": [1, 1]},
                                       "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER})
    model = KnowIt.load(result.run_dir)
    with pytest.raises(KnowItDataError) as err:
        model.predict(table.iloc[45:75])  # the last 15 days of store_00, the first 15 of store_01
    assert str(err.value) == ("new_data: column 'store' holds 2 of the dataset's instances (store_00, store_01); "
                              "predict one series at a time, e.g. frame[frame['store'] == 'store_00']")
    one = model.predict(table[table["store"] == "store_01"].tail(30))
    assert len(one) == 30 - 6 and list(one.columns) == ["date", "sales"]
    assert one["date"].iloc[-1] == pd.Timestamp("2023-03-01")  # the point's own date, parsed as the import parsed it


def test_series_plot_date_labels_do_not_run_into_each_other(tmp_path, monkeypatch):
    """A 5-week panel of daily points drew "2024-06-292024-07-01": two tick labels on top of
    each other. Every panel's labels now sit side by side."""
    import knowit.plots.results as results

    drawn = []
    monkeypatch.setattr(results, "_save", lambda fig, path: drawn.append(fig) or path)
    rows = []
    for instance, (start, days) in {"store_00": ("2024-06-26", 35), "store_01": ("2024-01-01", 360)}.items():
        for k, t in enumerate(pd.date_range(start, periods=days, freq="D")):
            rows.append({"instance": instance, "slice": 0, "time": t, "step": 1, "component": "sales", "target": 5000.0 + k, "prediction": 5100.0 + k})
    results.series_plot(pd.DataFrame(rows), tmp_path / "series.png", title="t")
    fig = drawn[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        boxes = [label.get_window_extent(renderer) for label in ax.get_xticklabels() if label.get_visible() and label.get_text()]
        assert len(boxes) >= 3
        assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), [label.get_text() for label in ax.get_xticklabels()]


def test_comparing_runs_on_other_points_names_the_cause_not_the_seed(ki, tmp_path):
    """Two runs on imported data (``split_method: auto``, chronological for a series) with other
    windows and other seeds: the refusal blamed the seed too, which splits nothing here."""
    from conftest import TINY_ARCH, TINY_TRAINER
    from knowit.errors import KnowItRunError

    _stores_table(n_stores=2, days=120).to_csv(tmp_path / "sales.csv", index=False)
    _import(ki, tmp_path / "sales.csv", time_column="date", instance_column="store")
    for name, lo, seed in (("a", -6, 1), ("b", -9, 2)):
        ki.train_model(name, {"data": {"name": "shop", "in_chunk": [lo, 0], "out_chunk": [1, 1]}, "arch": {"name": TINY_ARCH},
                              "trainer": TINY_TRAINER}, overrides=[f"seed={seed}"])
    with pytest.raises(KnowItRunError) as err:
        ki.compare(["a", "b"])
    assert "data.in_chunk [-6, 0] vs [-9, 0]" in str(err.value) and "seed" not in str(err.value), str(err.value)


def test_cli_import_hints_name_the_flags_to_pass(tmp_path, exp_dir):
    """The CLI's import speaks in flags, in its warnings too (the API's say meta.<key>)."""
    from conftest import run_cli

    _stores_table().to_csv(tmp_path / "sales.csv", index=False)
    out = run_cli(["import", "sales.csv", "--name", "shop", "--targets", "sales", "--min-rows", "10"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ("knowit: warning: dataset 'shop': no time column, so the rows are numbered in file order; column 'date' holds "
                          "dates: pass --time-column date to use them; if column 'store' tells the series apart, pass --instance-column store\n"
                          # 120 rows glued together: 24 per chronological valid/test set, too few for the default window
                          "knowit: warning: dataset 'shop': the default input window (32 rows) leaves its chronological valid or test set "
                          "empty; its data config sets data.in_chunk=[-15, 0] (16 rows)\n")


def test_a_text_cell_is_counted_in_words(tmp_path, exp_dir, cli_main):
    table = _stores_table(n_stores=1)
    table["sales"] = table["sales"].astype(object)
    table.loc[7, "sales"] = "n/a?"
    table.to_csv(tmp_path / "one.csv", index=False)
    out = cli_main(["import", "one.csv", "--name", "shop", "--time-column", "date", "--min-rows", "10"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 2 and "column 'sales' is not numeric: row 7 holds 'n/a?' (1 such cell); fix them" in out.stderr, out.stderr


def test_a_jittered_sensor_clock_is_refused_with_its_median_step_and_the_rounding_that_fixes_it(ki):
    """A 100 Hz clock that jitters by half a millisecond has no exact step: the refusal said only
    'declare the step with {"freq": "MS"}', which leaves every row its own slice."""
    from knowit.errors import KnowItDataError

    n = 400
    rng = np.random.default_rng(0)
    jitter = rng.integers(-1, 2, n) * 0.5
    times = pd.Timestamp("2026-03-01") + pd.to_timedelta(np.arange(n) * 10 + jitter, unit="ms")
    frame = pd.DataFrame({"time": times, "a": rng.standard_normal(n), "b": rng.standard_normal(n)})
    with pytest.raises(KnowItDataError) as err:
        ki.import_dataset({"data_import": {"raw_data": frame, "meta": {"name": "log"}}})
    assert "the median step is 10 ms" in str(err.value) and "times.dt.round('10ms')" in str(err.value), str(err.value)
    with pytest.raises(KnowItDataError) as err:  # declaring the step does not put the rows on it
        ki.import_dataset({"data_import": {"raw_data": frame, "meta": {"name": "log", "freq": "10ms"}}})
    assert "longest contiguous slice" in str(err.value) and "times.dt.round('10ms')" in str(err.value), str(err.value)
    frame["time"] = frame["time"].dt.round("10ms")
    summary = ki.import_dataset({"data_import": {"raw_data": frame, "meta": {"name": "log"}}})
    assert summary["freq"] == "10ms" and summary["n_slices"] == 1


def _ar_sales(days: int = 300) -> pd.DataFrame:
    """Two stores whose sales follow their own past (AR(1), phi 0.9, in the thousands) and a
    promo flag that carries no signal."""
    rng = np.random.default_rng(1)
    dates = pd.date_range("2023-01-01", periods=days, freq="D").strftime("%Y-%m-%d")
    parts = []
    for s in range(2):
        level = np.zeros(days)
        for t in range(1, days):
            level[t] = 0.9 * level[t - 1] + rng.normal(0, 400)
        parts.append(pd.DataFrame({"date": dates, "store": f"store_{s:02d}", "sales": (5000 + level).round(2),
                                   "promo": rng.integers(0, 2, days)}))
    return pd.concat(parts, ignore_index=True)


def test_a_forecast_on_imported_data_reads_the_targets_own_past_by_default(ki, tmp_path):
    """``in_components: null`` took every component but the targets, so forecasting sales
    1-2 days ahead never saw past sales (session 10's sales data: skill -1.13 against
    persistence). A forecast now reads them; a nowcast, whose window holds its answer, does not."""
    import json

    from conftest import TINY_ARCH

    path = tmp_path / "sales.csv"
    _ar_sales(days=150).to_csv(path, index=False)
    _import(ki, path, time_column="date", instance_column="store")
    trainer = {"max_epochs": 4, "accelerator": "cpu", "learning_rate": 0.05}
    forecast = {"name": "shop", "in_chunk": [-6, 0], "out_chunk": [1, 2], "batch_size": 16}

    def train(name, data, **over):
        result = ki.train_model(name, {"data": data, "arch": {"name": TINY_ARCH}, "trainer": {**trainer, **over}})
        return result, json.loads((result.run_dir / "summary.json").read_text())["data"]["in_components"]

    default, inputs = train("own_past", forecast)
    assert inputs == ["sales", "promo"]
    blind, inputs = train("no_past", {**forecast, "in_components": ["promo"]})
    assert inputs == ["promo"]
    # the AR(1) process's 1-2 day forecast error is far below its spread, which is all promo gives
    assert default.metrics["test_mae"] < 0.7 * blind.metrics["test_mae"], (default.metrics, blind.metrics)
    _, inputs = train("now", {**forecast, "out_chunk": [0, 0]}, max_epochs=1)
    assert inputs == ["promo"]


def test_a_target_named_as_input_over_its_own_rows_is_warned_about(ki, tmp_path):
    from conftest import TINY_ARCH, TINY_TRAINER

    path = tmp_path / "sales.csv"
    _ar_sales(days=60).to_csv(path, index=False)
    _import(ki, path, time_column="date", instance_column="store")
    data = {"name": "shop", "in_chunk": [-6, 0], "out_chunk": [0, 0], "in_components": ["sales", "promo"]}
    with pytest.warns(UserWarning, match=r"data.in_components: 'sales' is an output and an input whose window covers the rows it predicts"):
        ki.train_model("sees_answer", {"data": data, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER})


def test_eight_years_of_months_train_with_the_command_the_import_printed(tmp_path, exp_dir, cli_main):
    """96 month-end rows: the default 32-row window purged the whole chronological valid set,
    so the `next: python -m knowit train data=biz` the import printed was refused at once. The
    data config now carries one season (12 months) of input, and the import says so."""
    from conftest import TINY_OVERRIDES

    months = pd.date_range("2017-01-31", periods=96, freq="ME")
    rng = np.random.default_rng(3)
    pd.DataFrame({"month": months.strftime("%Y-%m-%d"), "revenue": (1e5 + 900 * np.arange(96) + rng.normal(0, 4e3, 96)).round(),
                  "orders": rng.integers(2500, 3500, 96)}).to_csv(tmp_path / "monthly.csv", index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = cli_main(["import", "monthly.csv", "--name", "biz", "--time-column", "month", "--targets", "revenue"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0 and "next: python -m knowit train data=biz\n" in out.stdout, out.stderr
    assert [str(w.message) for w in caught] == ["dataset 'biz': the default input window (32 rows) leaves its chronological valid or "
                                                "test set empty; its data config sets data.in_chunk=[-11, 0] (12 rows)"]
    assert "in_chunk:\n- -11\n- 0\n" in (exp_dir / "conf" / "data" / "biz.yaml").read_text()
    trained = cli_main(["train", "data=biz", "model_name=first", "arch=mlp", *TINY_OVERRIDES], cwd=tmp_path, exp_dir=exp_dir)
    assert trained.returncode == 0, trained.stderr
    summary = json.loads((exp_dir / "models" / "first" / "summary.json").read_text())
    assert summary["data"]["n_points"] == {"train": 49, "valid": 5, "test": 6}  # one step ahead of 12 months
    # the forecast it printed as well (12 months ahead would leave no test point after a 12-month input)
    forecast = "forecast: python -m knowit train data=biz 'data.out_chunk=[1,3]'   # revenue 1 to 3 steps ahead, from every column's past\n"
    assert forecast in out.stdout
    ahead = cli_main(["train", "data=biz", "data.out_chunk=[1,3]", "model_name=ahead", "arch=mlp", *TINY_OVERRIDES], cwd=tmp_path, exp_dir=exp_dir)
    assert ahead.returncode == 0, ahead.stderr
    summary = json.loads((exp_dir / "models" / "ahead" / "summary.json").read_text())
    assert summary["data"]["in_components"] == ["revenue", "orders"] and summary["data"]["n_points"]["test"] == 5
    # a series long enough for the default window keeps it
    months = pd.date_range("1990-01-31", periods=400, freq="ME")
    pd.DataFrame({"month": months.strftime("%Y-%m-%d"), "revenue": np.arange(400.0)}).to_csv(tmp_path / "long.csv", index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = cli_main(["import", "long.csv", "--name", "long", "--time-column", "month", "--targets", "revenue"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0 and not caught and "\nin_chunk:" not in (exp_dir / "conf" / "data" / "long.yaml").read_text()


def test_forecast_panels_name_the_day_a_forecast_starts_from(tmp_path, monkeypatch):
    """Daily forecasts were titled "S000 @ 2024-09-14 00:00:00": a time of day daily data does
    not have, and no word saying that step 1 is the day after it."""
    import knowit.plots.results as results

    drawn = []
    monkeypatch.setattr(results, "_save", lambda fig, path: drawn.append(fig) or path)
    rows = [{"instance": "S000", "slice": 0, "time": t, "step": k, "component": "sales", "target": 5000.0 + k, "prediction": 5100.0}
            for t in pd.date_range("2024-09-14", periods=3, freq="D") for k in (1, 2, 3)]
    results.forecast_plot(pd.DataFrame(rows), tmp_path / "forecasts.png", title="t", n_points=2)
    axes = drawn[0].axes
    assert [ax.get_title() for ax in axes] == ["S000: forecast from 2024-09-14", "S000: forecast from 2024-09-16"]
    assert axes[0].get_xlabel() == "steps ahead of 2024-09-14"


def test_day_first_dates_are_refused_naming_the_row_then_read_with_their_format(tmp_path, exp_dir, cli_main):
    """A European export (01/02/2023 is 1 February): pandas guessed month-first from the first
    row and failed at the 13th day; knowit said only "neither numbers nor dates"."""
    from conftest import TINY_ARCH, TINY_TRAINER
    from knowit import KnowIt

    table = _stores_table(n_stores=1, days=60)
    table["date"] = pd.to_datetime(table["date"]).dt.strftime("%d/%m/%Y")
    table.to_csv(tmp_path / "eu.csv", index=False)
    args = ["import", "eu.csv", "--name", "eu", "--time-column", "date", "--targets", "sales"]
    out = cli_main(args, cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 2 and out.stderr == (
        "knowit: error: --time-column: row 12 holds '13/01/2023', which does not read as a date in the format of the first row "
        "('01/01/2023'); give the format with --time-format, e.g. '%d/%m/%Y' for day-first dates\n"), out.stderr
    assert cli_main([*args, "--time-format", "%d/%m/%Y"], cwd=tmp_path, exp_dir=exp_dir).returncode == 0
    ki = KnowIt(exp_dir)
    assert ki.summarize_dataset("eu")["freq"] == "D"
    result = ki.train_model("eu_m", {"data": {"name": "eu", "in_components": ["sales", "promo"], "in_chunk": [-6, 0], "out_chunk": [1, 1]},
                                     "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER})
    frame = table.drop(index=[40])  # new rows read with the run's format: 10/02/2023 is missing, not 2 October
    with pytest.warns(UserWarning, match="column 'date' skips from 2023-02-09 to 2023-02-11"):
        out = KnowIt.load(result.run_dir).predict(frame)
    assert len(out) == (40 - 6) + (19 - 6) and out["date"].iloc[0] == pd.Timestamp("2023-01-07")
