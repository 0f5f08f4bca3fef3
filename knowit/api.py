"""The Python door: ``KnowIt(exp_dir).train_model(model_name, kwargs)`` and friends.

Everything goes through the same composition and validation as the CLI
(``knowit.config.compose``), so a config that works in one door works in the other.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from knowit.config.compose import config_from_kwargs
from knowit.config.imported_data import exp_dir_of, write_data_config
from knowit.config.run_config import RunConfig, validate
from knowit.errors import KnowItRunError, os_errors_as_run_errors


class KnowIt:
    """An experiment directory holding datasets (``datasets/``) and trained models (``models/``).

    ``exp_dir`` defaults to ``$KNOWIT_EXP_DIR`` or ``./knowit_exp``.
    """

    def __init__(self, exp_dir: str | os.PathLike | None = None):
        self.exp_dir = exp_dir_of((), exp_dir or None)

    # -- configuration ------------------------------------------------------------------------
    def config(self, model_name: str | None = None, kwargs: Mapping[str, Any] | None = None, *, overrides: Sequence[str] = (), overwrite: bool = False) -> RunConfig:
        """Compose and validate a run config without training (raises KnowItConfigError).

        With ``trainer.resume`` set, the config is the resumed run's own, with only the keys that
        ``kwargs`` and ``overrides`` give changed."""
        from knowit.config.resume import from_resumed_run, kwargs_keys, override_keys

        raw = config_from_kwargs(kwargs, overrides, self.exp_dir)
        raw["exp_dir"] = str(self.exp_dir)
        if model_name is not None:
            raw["model_name"] = model_name
        if overwrite:
            raw["overwrite"] = True
        given = [*override_keys(overrides), *kwargs_keys(kwargs), *(["model_name"] if model_name is not None else [])]
        return validate(from_resumed_run(raw, given))

    # -- training -----------------------------------------------------------------------------
    def train_model(
        self,
        model_name: str,
        kwargs: Mapping[str, Any] | None = None,
        *,
        overrides: Sequence[str] | None = None,
        safe_mode: bool = True,
        overwrite: bool = False,
        resume: bool = False,
        and_viz: bool = False,
        progress_bar: bool | None = None,
        repeats: int | None = None,
    ):
        """Train a model into ``<exp_dir>/models/<model_name>``; returns a ``TrainResult``.

        ``safe_mode=True`` (default) refuses to replace an existing ``model_name``; pass
        ``safe_mode=False`` or ``overwrite=True`` to replace it. ``resume=True`` continues the
        run ``model_name`` from its ``last.ckpt`` and its saved config; ``kwargs`` and
        ``overrides`` change only what they name (``overrides=["trainer.max_epochs=20"]``).
        ``progress_bar``: ``True`` the bar, ``False`` one line per epoch, ``None`` (default) the
        bar on a terminal or in a notebook and lines otherwise.
        ``repeats=N`` trains N seeds derived from ``seed`` into ``<model>/rep-<k>``; the result's
        ``metrics`` are then the means and ``intervals`` their std and 95 % t-interval.
        """
        from knowit.orchestrator import train_model
        from knowit.rundir import API_REPLACE

        overrides = [*(overrides or ()), *([f"trainer.resume={model_name}"] if resume else []), *([f"repeats={repeats}"] if repeats is not None else [])]
        cfg = self.config(model_name, kwargs, overrides=overrides, overwrite=(overwrite or not safe_mode) and not resume)
        with os_errors_as_run_errors():
            return train_model(cfg, and_viz=and_viz, progress_bar=progress_bar, replace_hint=API_REPLACE)

    def sweep(
        self,
        model_name: str,
        kwargs: Mapping[str, Any] | None = None,
        grid: Mapping[str, Sequence[Any]] | None = None,
        *,
        overrides: Sequence[str] = (),
        overwrite: bool = False,
        and_viz: bool = False,
        progress_bar: bool | None = None,
        resume: bool = False,
        repeats: int | None = None,
    ):
        """Train every combination of ``grid`` (``{'arch.width': [32, 64], 'trainer.learning_rate':
        [1e-3, 1e-2]}``) on top of ``kwargs``, one job after another, into
        ``<exp_dir>/sweeps/<model_name>/<n>``; returns the ``SweepSummary`` (best job first; also
        written as ``sweep_summary.csv``/``.json``, a plot and a ``best`` link). All configs are
        checked before the first job; a failing job is recorded and the sweep goes on.
        ``repeats=N`` trains every job with N seeds: jobs are ranked by their mean and those whose
        95 % interval overlaps the best's are marked tied. ``resume=True`` runs only the jobs of an
        interrupted sweep that never finished. ``overrides=["sweep.objective=backtest",
        "optimized_metric=backtest_mae"]`` ranks jobs by a rolling-origin backtest before the test
        set instead of one validation split (see ``knowit.sweeps.objective``)."""
        from knowit.sweeps.sequential import run_sweep

        overrides = [*overrides, *([f"repeats={repeats}"] if repeats is not None else [])]
        return run_sweep(self, model_name, kwargs, grid or {}, overrides=overrides, overwrite=overwrite, and_viz=and_viz,
                         progress_bar=progress_bar, resume=resume)

    # -- what exists --------------------------------------------------------------------------
    @staticmethod
    def available_archs() -> list[str]:
        from knowit.registry import available_archs

        return available_archs()

    def available_datasets(self) -> list[str]:
        """Datasets stored in this experiment directory plus the built-in ones (generated on use)."""
        from knowit.data.builtin import BUILTIN
        from knowit.data.store import DatasetStore

        return sorted(set(DatasetStore(self.exp_dir).names()) | set(BUILTIN))

    def import_dataset(self, kwargs: Mapping[str, Any], *, safe_mode: bool = True, overwrite: bool = False,
                       batch_rows: int | None = None) -> dict[str, Any]:
        """Import ``{'data_import': {'raw_data': ..., 'meta': {...}}}`` into ``<exp_dir>/datasets``.

        ``raw_data``: a DataFrame, a ``.csv``/``.parquet`` path (time series), a ``{'x', 'y'}``
        dict of arrays or an ``.npz`` path (array dataset). Returns the stored dataset's summary.
        A CSV/Parquet file is read and stored ``batch_rows`` rows at a time (default 524288), so a
        table larger than memory imports; it must then be sorted by instance and time.
        An existing dataset is replaced only with ``safe_mode=False`` or ``overwrite=True``.
        Also writes ``<exp_dir>/conf/data/<name>.yaml``, so that ``data=<name>`` (CLI overrides)
        or ``kwargs={'data': {'name': <name>}}`` trains on it with its task and targets.
        """
        from knowit.data.importing import import_dataset
        from knowit.data.store import DatasetStore
        from knowit.errors import KnowItDataError

        spec = kwargs.get("data_import") if isinstance(kwargs, Mapping) else None
        if not isinstance(spec, Mapping) or "raw_data" not in spec:
            raise KnowItDataError("data_import: expected {'data_import': {'raw_data': <DataFrame, path or arrays>, 'meta': {...}}}")
        unknown = set(spec) - {"raw_data", "meta"}
        if unknown:
            raise KnowItDataError(f"data_import.{sorted(unknown)[0]}: unknown key; allowed keys: raw_data, meta")
        store = DatasetStore(self.exp_dir)
        if batch_rows is not None and (isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1):
            raise KnowItDataError(f"batch_rows: expected a positive number of rows, got {batch_rows!r}")
        data = import_dataset(store, spec["raw_data"], spec.get("meta"), overwrite=overwrite or not safe_mode, batch_rows=batch_rows)
        with os_errors_as_run_errors("exp_dir"):
            meta = store.meta(data.name)
            write_data_config(self.exp_dir, data.name, meta, in_chunk=_window_for_short_series(data, meta))
        return store.summarize(data.name)

    def summarize_dataset(self, name: str) -> dict[str, Any]:
        """What a stored (or built-in, generated now) dataset holds: shapes, components, classes."""
        from knowit.data.builtin import ensure_builtin
        from knowit.data.store import DatasetStore

        store = DatasetStore(self.exp_dir)
        ensure_builtin(store, name)
        return store.summarize(name)

    def available_models(self) -> list[str]:
        models = self.exp_dir / "models"
        return sorted(p.name for p in models.iterdir() if (p / "config.yaml").is_file()) if models.is_dir() else []

    def run_dir(self, model_name: str) -> Path:
        path = self.exp_dir / "models" / model_name
        if not (path / "config.yaml").is_file():
            raise KnowItRunError(f"model_name: no trained model {model_name!r} in {self.exp_dir / 'models'}; available: {', '.join(self.available_models()) or 'none'}")
        return path

    # -- results ------------------------------------------------------------------------------
    def _load_model(self, model_name: str, arch: str | None):
        from knowit.results.load import load_run

        return load_run(self.run_dir(model_name), arch=arch, exp_dir=self.exp_dir)

    def generate_predictions(self, model_name: str, kwargs: Mapping[str, Any] | None = None, *, arch: str | None = None):
        """Predict a set of a trained model; returns the tidy table and saves it as
        ``<run>/predictions/<set>.parquet``. ``kwargs = {'predictor': {'prediction_set':
        'train'|'valid'|'test', 'rescale_outputs': True}}`` (KnowIt's form; both keys optional).
        ``arch``: the module of a run trained with your own architecture (see ``KnowIt.load``)."""
        from knowit.config.options import PredictorConfig, kwargs_options
        from knowit.results.predictions import predictions_frame, save_predictions

        predictor = kwargs_options(PredictorConfig, kwargs, "predictor", "predicting")
        run = self._load_model(model_name, arch)
        set_name = predictor.prediction_set
        frame = predictions_frame(run, set_name, rescale_outputs=predictor.rescale_outputs)
        with os_errors_as_run_errors("model_name"):
            save_predictions(frame, run.run.predictions, set_name)
        return frame

    def evaluate(self, model_name: str, set_name: str = "test", *, arch: str | None = None) -> dict[str, float]:
        """Loss and metrics of a trained model's best checkpoint on ``set_name``."""
        from knowit.results.predictions import evaluate

        return evaluate(self._load_model(model_name, arch), set_name)

    def visualize(self, model_name: str, set_name: str = "test", *, min_probability: float = 0.0, arch: str | None = None) -> list[Path]:
        """Draw a trained model's plots into ``<run>/visualizations``; returns the files written."""
        from knowit.config.options import VisualizeOptions, options
        from knowit.plots.curves import learning_curves
        from knowit.plots.results import visualize_set
        from knowit.results.predictions import predictions_frame

        shown = options(VisualizeOptions, {"set_name": set_name, "min_probability": min_probability})
        set_name, min_probability = shown.set_name, shown.min_probability
        run = self._load_model(model_name, arch)
        frame = predictions_frame(run, set_name)
        folder = run.run.visualizations
        with os_errors_as_run_errors("model_name"):
            written = [learning_curves(run.history, folder / "learning_curves.png", title=model_name)]
            written += visualize_set(frame, run.module.hparams.task, set_name, folder, title=model_name, min_probability=min_probability)
        return [p for p in written if p is not None]

    def compare(self, model_names: Sequence[str], set_name: str = "test", *, loss: str = "squared", name: str | None = None,
                arch: str | None = None):
        """Compare trained models on the same points of ``set_name``: a leaderboard (scores in
        original units, parameters, training time, skill over naive baselines) and a paired test
        per pair (Diebold-Mariano for regression with ``loss`` squared or absolute, McNemar for
        classification; Holm-adjusted). Saved under ``<exp_dir>/comparisons/<name>``; returns a
        ``Comparison`` (``.leaderboard``, ``.tests``, ``.format()``). Runs scored on different
        data or points are refused with what differs. ``arch``: the module of runs trained with your
        own architecture (see ``KnowIt.load``)."""
        from knowit.comparison.compare import compare_runs
        from knowit.config.options import CompareOptions, options

        given = options(CompareOptions, {"model_names": model_names if isinstance(model_names, str) else list(model_names), "set_name": set_name, "loss": loss, "name": name})
        _import_named_arch(arch)
        with os_errors_as_run_errors():
            return compare_runs(self.exp_dir, given)

    def backtest(self, model_name: str, folds: int = 5, *, mode: str = "expanding", refit: bool = False, progress_bar: bool | None = False,
                 arch: str | None = None):
        """Rolling-origin backtest of a trained model over ``folds`` origins across its test region
        (``mode`` expanding or sliding training window; ``refit=True`` trains each fold afresh on
        the data before its origin, with a purge gap of the window span). Per-fold scores in
        original units with naive baselines, and each score's mean and 95 % interval over the
        folds, saved under ``<run>/backtests/``; returns a ``Backtest`` (``.folds``, ``.aggregate``,
        ``.format()``)."""
        from knowit.comparison.backtest import run_backtest
        from knowit.config.options import BacktestOptions, options
        from knowit.orchestrator import train_model

        given = options(BacktestOptions, {"folds": folds, "mode": mode, "refit": refit})
        _import_named_arch(arch)
        with os_errors_as_run_errors():
            return run_backtest(self.exp_dir, model_name, given, train=train_model, progress_bar=progress_bar)

    def interpret_model(self, model_name: str, kwargs: Mapping[str, Any] | None = None, *, arch: str | None = None):
        """Attribute a trained model's outputs to its input windows (Captum; ``pip install
        'knowit[interpret]'``). ``kwargs = {'interpreter': {'interpretation_method':
        'IntegratedGradients'|'DeepLift'|'DeepLiftShap', 'interpretation_set': 'valid', 'selection':
        'random'|'all'|'success'|'failure', 'size': 100, 'multiply_by_inputs': True, 'seed': 123}}``
        (more keys in ``knowit.config.options.InterpreterConfig``). Saves
        ``<run>/interpretations/<method>_<set>_<selection>.npz`` and heatmaps under
        ``<run>/visualizations/interpretation``; returns an ``Interpretation``."""
        from knowit.config.options import InterpreterConfig, kwargs_options
        from knowit.interpret.run import interpret, require_captum

        cfg = kwargs_options(InterpreterConfig, kwargs, "interpreter", "interpretation")
        require_captum()
        return interpret(self._load_model(model_name, arch), cfg)

    # -- loading ------------------------------------------------------------------------------
    @staticmethod
    def load(run_dir: str | os.PathLike, *, checkpoint: str = "best", arch: str | None = None):
        """Rebuild a trained model from its run directory (``weights_only`` loading).

        The architecture comes from the run's ``config.yaml``: a shipped one by name; a run
        trained with your own architecture module needs ``arch='my_pkg.my_arch'`` (unless this
        process already imported it), because loading runs that module's code and a run folder
        someone shared must not choose code for you."""
        from knowit.results.load import load_run

        return load_run(Path(run_dir), checkpoint=checkpoint, arch=arch)


def _import_named_arch(arch: str | None) -> None:
    """``arch=`` of the doors that load several runs: the caller names the user architecture, so
    it is imported now and loading the runs then runs no new code (see ``knowit.results.load``)."""
    if arch is not None:
        from knowit.registry import resolve

        resolve(arch)


def _window_for_short_series(data: Any, meta: Any) -> list[int] | None:
    """The input window an imported series' data config gets when the default one leaves a
    chronological valid or test set empty (a first ``train data=<name>`` would be refused);
    the import says so in a warning."""
    import warnings

    from knowit.config.imported_data import default_out_chunk
    from knowit.config.schema import DataConfig
    from knowit.data.series import SeriesData
    from knowit.data.splitting import input_rows_that_fit

    if not isinstance(data, SeriesData):
        return None
    default = DataConfig()
    rows = input_rows_that_fit(data, default.in_chunk, default_out_chunk(meta) or default.out_chunk, default.split_portions)
    if rows is None:
        return None
    in_chunk = [-(rows - 1), 0]
    warnings.warn(
        f"dataset {data.name!r}: the default input window ({default.in_chunk[1] - default.in_chunk[0] + 1} rows) leaves its "
        f"chronological valid or test set empty; its data config sets data.in_chunk={in_chunk} ({rows} rows)",
        stacklevel=3,
    )
    return in_chunk
