"""``python -m knowit import PATH --name NAME``: import a CSV, Parquet or .npz file."""
HELP = "import a dataset (.csv/.parquet time series or .npz arrays) into the experiment directory"


def configure(parser) -> None:
    from knowit.commands.common import add_exp_dir

    parser.add_argument("path", help="a .csv or .parquet table (time series) or an .npz file with arrays x, y [, x_test, y_test]")
    parser.add_argument("--name", required=True, help="name of the stored dataset (data.name in configs)")
    parser.add_argument("--meta", default=None, help='more metadata as JSON, e.g. \'{"time_delta": "1h", "labels": ["label"]}\'')
    parser.add_argument("--time-column", default=None, help="column holding the time (default: 'time' or a datetime index)")
    parser.add_argument("--time-format", default=None, help="strftime format of the time column when pandas cannot guess it, e.g. '%%d/%%m/%%Y' for day-first dates")
    parser.add_argument("--instance-column", default=None, help="column naming the instance of each row (default: 'instance' if present)")
    parser.add_argument("--components", default=None, help="comma-separated columns to keep (default: every numeric column)")
    parser.add_argument("--labels", default=None, help="comma-separated columns holding class labels")
    parser.add_argument("--targets", default=None, help="comma-separated default output components")
    parser.add_argument("--freq", default=None, help="the series' pandas frequency when it cannot be recognised, e.g. MS, ME, B, W-MON, h")
    parser.add_argument("--min-rows", type=int, default=None, help="accept a series whose longest slice is shorter than one default window (32 rows)")
    parser.add_argument("--nan-handling", default=None, metavar="{split,linear,nearest,ffill,bfill}",
                        help="missing cells: split the series there (default) or fill them (and the periods of --fill-gaps)")
    parser.add_argument("--fill-gaps", type=int, default=None, metavar="N",
                        help="fill gaps of up to N missing periods with rows valued as --nan-handling fills cells (default: a gap cuts the series)")
    parser.add_argument("--coerce", action="store_true", help="read non-numeric cells of numeric columns as missing values instead of refusing them")
    parser.add_argument("--batch-rows", type=int, default=None, help="rows read and stored at a time from a .csv/.parquet file (default 524288); a file larger than memory must be sorted by instance and time")
    parser.add_argument("--overwrite", action="store_true", help="replace a stored dataset of the same name")
    add_exp_dir(parser)


def _meta(ns) -> dict:
    import json

    from knowit.errors import KnowItDataError

    meta = {}
    if ns.meta:
        try:
            meta = json.loads(ns.meta)
        except ValueError as err:
            raise KnowItDataError(f"--meta: not valid JSON ({err})") from None
        if not isinstance(meta, dict):
            raise KnowItDataError("--meta: expected a JSON object")
    meta["name"] = ns.name
    for key in ("time_column", "time_format", "instance_column", "freq", "min_rows", "nan_handling", "fill_gaps"):
        if getattr(ns, key) is not None:
            meta[key] = getattr(ns, key)
    if ns.coerce:
        meta["coerce"] = True
    for key in ("components", "labels", "targets"):
        if getattr(ns, key):
            meta[key] = [c.strip() for c in getattr(ns, key).split(",") if c.strip()]
    return meta


# The importer names what the API was given (data_import.raw_data, meta.<key>, overwrite=True);
# a CLI user typed a path and flags, so its refusals are told in those words.
FLAGS = ("name", "time_column", "time_format", "instance_column", "components", "labels", "targets", "freq", "min_rows", "coerce",
         "nan_handling", "fill_gaps")


def in_cli_words(message: str) -> str:
    import re

    def flag(match: re.Match) -> str:
        key = match.group(1)
        return "--" + key.replace("_", "-") if key in FLAGS else f"--meta {key}"

    message = message.replace("data_import.raw_data:", "path:").replace("overwrite=True", "--overwrite")
    message = re.sub(r"\bmeta\.(\w+)", flag, message)
    # "meta.min_rows (--min-rows)" and "meta.time_column (--time-column date)" name the flag once
    return re.sub(r"(--[\w-]+) \(\1( [^)]*)?\)", r"\1\2", message)


def run(ns) -> int:
    from knowit.api import KnowIt
    from knowit.commands.common import print_summary
    from knowit.config.imported_data import data_config_path, forecast_command, next_command
    from knowit.errors import KnowItError

    import warnings

    ki = KnowIt(ns.exp_dir)
    with warnings.catch_warnings(record=True) as caught:  # told again below, in the CLI's words
        warnings.simplefilter("always")
        try:
            summary = ki.import_dataset({"data_import": {"raw_data": ns.path, "meta": _meta(ns)}}, overwrite=ns.overwrite, batch_rows=ns.batch_rows)
        except KnowItError as err:
            failed: KnowItError | None = type(err)(in_cli_words(str(err)))
        else:
            failed = None
    for w in caught:
        warnings.warn_explicit(in_cli_words(str(w.message)), w.category, w.filename, w.lineno)
    if failed is not None:
        raise failed from None
    print(f"imported {ns.name!r} into {ki.exp_dir / 'datasets' / ns.name}")
    print_summary(summary)
    print(f"data config: {data_config_path(ki.exp_dir, ns.name)} (select it with data={ns.name})")
    print(f"next: {next_command(ns.name, summary, ns.exp_dir)}")
    steps = _forecast_steps(ki, ns.name, summary)
    # one step ahead is the `next:` run already (no calendar season to forecast, e.g. numeric time)
    forecast = forecast_command(ns.name, summary, steps, ns.exp_dir) if steps and steps > 1 else None
    if forecast:
        print(f"forecast: {forecast}   # {', '.join(summary['targets'])} 1 to {steps} steps ahead, from every column's past")
    return 0


def _forecast_steps(ki, name: str, summary: dict) -> int | None:
    """Steps ahead for the printed forecast command: one season of the calendar (7 days, 24
    hours, 12 months) or fewer, as many as the data config's input window leaves room for."""
    import yaml

    from knowit.config.imported_data import data_config_path
    from knowit.config.schema import DataConfig
    from knowit.data.frequency import calendar_season
    from knowit.data.splitting import forecast_steps_that_fit
    from knowit.data.store import DatasetStore

    if summary.get("kind") != "series" or not summary.get("targets"):
        return None
    written = yaml.safe_load(data_config_path(ki.exp_dir, name).read_text()) or {}
    data = DatasetStore(ki.exp_dir).load_series(name)
    season, _ = calendar_season(data.freq, data.time_kind, data.time_delta)
    default = DataConfig()
    return forecast_steps_that_fit(data, written.get("in_chunk", default.in_chunk), default.split_portions, season or 1)
