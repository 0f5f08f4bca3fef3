"""``train_model`` in stages: plan → resume → fit → finalize.

- ``plan(cfg)``: the cross-group checks that need no data (loss, metrics, optimiser, monitors,
  stateful sampling, loggers);
- ``resume_target(cfg)``: the run and checkpoint ``trainer.resume`` names, checked against the
  run's own validated config;
- ``fit``: data, model, run directory, trainer, ``trainer.fit``; it holds the run directory
  until finalize is done, and a failure in either is recorded in summary.json;
- ``finalize``: the best checkpoint evaluated, the shown set predicted once into
  predictions/<set>.parquet, summary.json, and the plots drawn from metrics.csv and that file.

Every check that can fail on bad input runs before the run directory is touched, so a
failed start leaves the experiment directory as it was.
"""
from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowit.config.run_config import RunConfig
from knowit.config.schema import loss_name, scheduler_monitor
from knowit.config.validate import to_plain
from knowit.errors import KnowItConfigError
from knowit.rundir import CLI_REPLACE, RunDir, auto_model_name, resume_paths

log = logging.getLogger("knowit")


@dataclass
class TrainResult:
    run_dir: Path
    best_checkpoint: Path | None
    metrics: dict[str, float] = field(default_factory=dict)
    status: str = "completed"
    n_parameters: int | None = None
    final: dict[str, float] = field(default_factory=dict)  # last epoch's logged values (train_* too)
    baselines: dict[str, Any] = field(default_factory=dict)  # naive forecasts' scores and the model's skill (summary.json)
    intervals: dict[str, dict[str, float]] = field(default_factory=dict)  # repeats > 1: mean, std, 95 % interval per metric

    def metric(self, name: str) -> float | None:
        """A best-checkpoint metric (valid_*, test_*), else the last epoch's value (train_*)."""
        return self.metrics.get(name, self.final.get(name))

    def __repr__(self) -> str:
        return f"TrainResult({self.status}, run_dir={str(self.run_dir)!r}, {short_metrics(self.metrics)})"


def short_metrics(metrics: dict[str, float], limit: int = 6) -> str:
    """``valid_loss=0.1234, test_loss=0.2345, ...``: a few metrics for a one-line repr."""
    items = [f"{k}={v:.4g}" for k, v in sorted(metrics.items())]
    return ", ".join(items[:limit] + ([f"... {len(items) - limit} more"] if len(items) > limit else [])) or "no metrics"


def check_monitors(cfg: RunConfig, metric_names: list[str]) -> None:
    """A monitored or optimised metric must be one the run will log (checked before training)."""
    def logged_by(stage: str) -> set[str]:
        return {loss_name(stage, cfg.data.scales_targets), *(f"{stage}_{m}" for m in metric_names)}

    logged, test_logged = logged_by("train") | logged_by("valid"), logged_by("test")
    checks = [("trainer.checkpoint.monitor", cfg.trainer.checkpoint.monitor, logged)]
    if cfg.trainer.early_stopping.enabled:
        checks.append(("trainer.early_stopping.monitor", cfg.trainer.early_stopping.monitor, logged))
    plateau = scheduler_monitor(cfg.trainer.lr_scheduler, cfg.trainer.lr_scheduler_kwargs)
    if plateau:
        checks.append(("trainer.lr_scheduler_kwargs.monitor", plateau, logged))
    if cfg.root.optimized_metric and not check_objective(cfg):
        checks.append(("optimized_metric", cfg.root.optimized_metric, logged | test_logged))
    if cfg.data.split_portions[1] == 0:  # no validation set: nothing valid_* could be logged
        watched = next(((k, n) for k, n, _ in checks if str(n).startswith("valid_")), None)
        if watched:
            raise KnowItConfigError(f"data.split_portions: {list(cfg.data.split_portions)} leaves no validation set, but {watched[0]} "
                                    f"watches {watched[1]!r}; give the valid set a share or watch a train_* metric")
    for key, name, allowed in checks:
        if name not in allowed:
            raise KnowItConfigError(f"{key}: {name!r} is not logged by this run; choose one of: {', '.join(sorted(allowed))}")


def check_objective(cfg: RunConfig) -> bool:
    """``sweep.objective=backtest``: ``optimized_metric`` must be a ``backtest_<score>`` (a score
    in original units averaged over folds) and the split chronological; True when it applies."""
    metric = str(cfg.root.optimized_metric)
    if cfg.root.sweep.objective != "backtest":
        if metric.startswith("backtest_"):
            raise KnowItConfigError(f"optimized_metric: {metric!r} is a backtest score; set sweep.objective=backtest to rank sweep jobs by it")
        return False
    from knowit.comparison.scores import CLASSIFICATION_SCORES, REGRESSION_SCORES
    from knowit.data.splitting import resolve_split_method

    if resolve_split_method(cfg.data.split_method, arrays=False) != "chronological":
        raise KnowItConfigError(f"sweep.objective: backtest selects over the time before the test set, which needs "
                                f"data.split_method=chronological, not {cfg.data.split_method}")
    scores = CLASSIFICATION_SCORES if cfg.data.task == "classification" else REGRESSION_SCORES
    allowed = [f"backtest_{s}" for s in scores]
    if metric not in allowed:
        raise KnowItConfigError(f"optimized_metric: {metric!r} is not what sweep.objective=backtest returns; "
                                f"choose one of: {', '.join(allowed)} (original units, the mean over folds)")
    return True


def plan(cfg: RunConfig) -> tuple[str, list[Any]]:
    """Cross-group checks that need no data: loss, metrics, optimiser, monitors."""
    from knowit.training.losses import check_loss_name
    from knowit.training.metrics import check_metric_names, metric_key
    from knowit.training.optimizers import check_optimization

    loss = check_loss_name(cfg.trainer.loss_fn, cfg.data.task, cfg.trainer.loss_kwargs)
    metrics = check_metric_names(cfg.trainer.performance_metrics, cfg.data.task)
    check_optimization(cfg.trainer)
    check_monitors(cfg, [metric_key(m) for m in metrics])
    check_stateful_sampling(cfg)
    if cfg.trainer.compile:
        compile_backend(cfg.trainer.compile)
    from knowit.training.trainer import check_loggers

    check_loggers(cfg.trainer.logger)
    return loss, metrics


def compile_backend(option: bool | str) -> str:
    """The ``torch.compile`` backend that ``trainer.compile`` names (true: inductor, its default)."""
    backend = "inductor" if option is True else str(option)
    from torch._dynamo import list_backends

    known = list_backends(exclude_tags=())
    if backend not in known:
        raise KnowItConfigError(f"trainer.compile: {backend!r} is not a torch.compile backend; choose true (inductor) or one of: {', '.join(known)}")
    return backend


def check_stateful_sampling(cfg: RunConfig) -> None:
    """A model that carries states between batches needs batches whose rows continue streams."""
    key = cfg.arch.stateful_key
    if key and cfg.data.batch_sampling != "contiguous":
        raise KnowItConfigError(
            f"data.batch_sampling: {key}=true carries states from one batch to the next, "
            "which needs data.batch_sampling=contiguous (shuffled batches would hand each row another stream's state)"
        )


def resume_target(cfg: RunConfig) -> tuple[Path, Path] | None:
    """``(run directory, checkpoint)`` that ``trainer.resume`` names, checked against this config.

    ``trainer.resume`` is a run directory (its ``checkpoints/last.ckpt`` is used) or a checkpoint
    file. A run's data and architecture cannot change on resume; trainer keys (say, more
    epochs) can.
    """
    if not cfg.trainer.resume:
        return None
    run_path, ckpt = resume_paths(cfg.trainer.resume, cfg.exp_dir)
    from knowit.errors import KnowItRunError
    from knowit.results.load import read_checkpoint

    try:  # a damaged checkpoint is refused before the run is touched
        read_checkpoint(ckpt)
    except KnowItRunError as err:
        raise KnowItConfigError(f"trainer.resume: {str(err).removeprefix('checkpoint: ')}") from None
    from dataclasses import fields

    from knowit.config.run_config import validate_saved

    saved_arch = RunDir(run_path).recorded_arch()
    from knowit import registry

    if saved_arch not in (cfg.arch.name, cfg.arch.module) and not registry.is_shipped(str(saved_arch)):
        # validating it would import a module the run folder chose: refused before that
        raise KnowItConfigError(f"trainer.resume: arch.name was {saved_arch!r} in the run being resumed, this config says "
                                f"{cfg.arch.name!r}; resume with the run's own data, arch, optimiser and scheduler settings")
    saved = validate_saved(RunDir(run_path).read_config(), run_path / "config.yaml")
    # The optimiser and scheduler states in the checkpoint only fit the same classes.
    pairs = [("arch.name", saved.arch.name, cfg.arch.name)]
    if saved.arch.module == cfg.arch.module:
        pairs += [(f"arch.{f.name}", getattr(saved.arch.args, f.name), getattr(cfg.arch.args, f.name)) for f in fields(cfg.arch.args)]
    pairs += [(f"data.{f.name}", getattr(saved.data, f.name), getattr(cfg.data, f.name)) for f in fields(cfg.data)]
    pairs += [(f"trainer.{k}", getattr(saved.trainer, k), getattr(cfg.trainer, k))
              for k in ("optim", "optim_kwargs", "learning_rate", "weight_decay", "lr_scheduler", "lr_scheduler_kwargs")]
    for key, was, now in pairs:
        was, now = to_plain(was), to_plain(now)
        if was != now:
            raise KnowItConfigError(
                f"trainer.resume: {key} was {was!r} in the run being resumed, this config says {now!r}; "
                "resume with the run's own data, arch, optimiser and scheduler settings"
            )
    return run_path, ckpt


def train_model(cfg: RunConfig, *, run_path: Path | None = None, and_viz: bool = True, progress_bar: bool | None = None,
                epoch_lines: bool = True, datamodule: Any = None, replace_hint: str = CLI_REPLACE) -> TrainResult:
    """One run in its four stages (see the module docstring).

    ``datamodule``: data prepared elsewhere (a backtest fold's sets) instead of ``cfg.data``'s split.
    ``replace_hint``: how the calling door consents to replacing an existing run, for the refusal
    (``overwrite=true`` on the command line)."""
    if cfg.root.repeats > 1:  # N seeds into <run>/rep-<k>, each trained by this function
        return _train_repeats(cfg, run_path=run_path, and_viz=and_viz, progress_bar=progress_bar, epoch_lines=epoch_lines,
                              replace_hint=replace_hint)
    _, metric_names = plan(cfg)
    resume = resume_target(cfg)
    with fit(cfg, resume, metric_names, run_path=run_path, datamodule=datamodule, progress_bar=progress_bar,
             epoch_lines=epoch_lines, replace_hint=replace_hint) as fitted:
        if fitted.worker:  # a DDP worker: rank 0 finalizes
            leave_process_group()
            return TrainResult(run_dir=fitted.run.path, best_checkpoint=None, status="worker")
        return finalize(fitted, and_viz=and_viz)


def leave_process_group() -> None:
    """End this process's part in DDP. Rank 0 evaluates alone after training; a worker that exits
    with the group still up can abort in gloo's teardown ("terminate called without an active
    exception"), which fails the whole torchrun job."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _train_repeats(cfg: RunConfig, **kw: Any) -> TrainResult:
    from knowit.comparison.repeats import train_repeats

    plan(cfg)
    path, summary, intervals = train_repeats(cfg, train_model, **kw)
    return TrainResult(run_dir=path, best_checkpoint=None, metrics=summary["metrics"], status=summary["status"],
                       n_parameters=summary["n_parameters"], final=summary["final"], baselines=summary.get("baselines") or {},
                       intervals=intervals)


@dataclass
class Fitted:
    """What ``fit`` hands to ``finalize``."""

    run: RunDir
    trainer: Any
    module: Any  # the module as training left it (finalize reloads the best checkpoint)
    datamodule: Any
    summary: dict[str, Any]  # summary.json as written so far
    writer: _Writer
    worker: bool  # a DDP worker started by rank 0: it writes nothing and does not finalize


@contextmanager
def fit(cfg: RunConfig, resume: tuple[Path, Path] | None, metric_names: list[Any], *, run_path: Path | None, datamodule: Any,
        progress_bar: bool | None, epoch_lines: bool, replace_hint: str) -> Iterator[Fitted]:
    """The third stage: data, model, the run directory claimed, config/scalers/summary written,
    ``trainer.fit``. Yields while the run directory is held: a failure here or in the caller's
    block (``finalize``) is recorded in summary.json (a failed resume is undone instead, the
    attempt noted beside the run), and the directory is released when the block ends."""
    import pytorch_lightning as pl

    from knowit.data.datamodule import KnowItDataModule
    from knowit.errors import KnowItInterrupted

    run, model_name = _run_dir(cfg, resume, run_path, replace_hint)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = datamodule or KnowItDataModule(cfg.data, cfg.exp_dir, cfg.seed)
    _check_resumed_data(cfg, resume, datamodule)
    module = _build_module(cfg, datamodule)
    run, ddp_child = _claim(run, cfg, resume, replace_hint)
    summary = _first_summary(cfg, model_name, module, datamodule)
    if not ddp_child:  # every rank builds the same model and data: rank 0 says so once
        log.info("model: %s, %s parameters (%s trainable)", cfg.arch.name, f"{_n_parameters(module):,}",
                 f"{sum(p.numel() for p in module.model.parameters() if p.requires_grad):,}")
        for warning in datamodule.warnings:
            log.warning("%s", warning)
    writer = _Writer(run, enabled=not ddp_child)
    attempt = ResumeAttempt(run) if resume and not ddp_child else None
    trainer = None
    try:
        resolved = cfg.to_dict()
        resolved["model_name"] = model_name
        writer.do(run.write_config, resolved)
        from knowit.atomic_io import write_json

        writer.do(write_json, run.scalers, datamodule.prepared.scalers_dict())
        if resume:
            summary["resumed_from"] = str(resume[1])
        writer.do(run.write_summary, summary)
        from knowit.training.metrics import metric_key
        from knowit.training.trainer import build_trainer

        trainer = build_trainer(cfg.trainer, run, seed=cfg.seed, progress_bar=progress_bar,
                                epoch_lines=epoch_lines, main_metric=metric_key(metric_names[0]) if metric_names else None)
        _run_fit(trainer, module, datamodule, resume, run, summary, leader=not ddp_child)
        if trainer.interrupted:
            summary["status"] = "interrupted"
        yield Fitted(run, trainer, module, datamodule, summary, writer, worker=bool(ddp_child))
    except BaseException as err:
        if attempt is not None and not isinstance(err, KnowItInterrupted):
            attempt.restore(err)  # a failed resume leaves the run as it was, the attempt recorded beside it
        elif "train_time_s" in summary or isinstance(err, KnowItInterrupted):
            _record_failure(writer, run, summary, err, trainer)
        raise
    finally:
        if not ddp_child:
            run.release()


def _run_dir(cfg: RunConfig, resume: tuple[Path, Path] | None, run_path: Path | None, replace_hint: str) -> tuple[RunDir, str]:
    """The run directory and model name: the resumed run's own, or a new one (an existing run is
    refused here, before data and model are built, unless overwrite says otherwise)."""
    if resume:
        run = RunDir(resume[0])
        return run, run.path.name
    model_name = cfg.root.model_name or auto_model_name(cfg.arch.name, cfg.data.name)
    run = RunDir(run_path) if run_path else RunDir.for_model(cfg.exp_dir, model_name)
    if _decides_run_dir():
        run.refuse_existing(overwrite=cfg.root.overwrite, hint=replace_hint)
    return run, model_name


def _check_resumed_data(cfg: RunConfig, resume: tuple[Path, Path] | None, datamodule: Any) -> None:
    """A resumed run continues on the data it started with, unless the config allows the change."""
    if not resume:
        return
    from knowit.provenance import data_change

    changed = data_change(RunDir(resume[0]).read_summary(), datamodule.data_hash)
    if changed and not cfg.trainer.resume_changed_data:
        raise KnowItConfigError(f"trainer.resume: {changed}; set trainer.resume_changed_data=true to resume on the new data anyway")


def _build_module(cfg: RunConfig, datamodule: Any) -> Any:
    """The LightningModule, its dimensions and classes taken from the prepared data."""
    from knowit.training.module import KnowItModule, code_hparams

    module = KnowItModule(
        **code_hparams(cfg),
        input_dim=datamodule.input_dim,
        output_dim=datamodule.output_dim,
        task=cfg.data.task,
        class_names=datamodule.class_names,
        class_weights=datamodule.class_weights,
        target_scaling=datamodule.target_scaling,
    )
    module.check_custom_metrics(datamodule.prepared)
    if cfg.trainer.compile:
        # In place: parameter names (and checkpoints) stay those of the plain model.
        module.model.compile(backend=compile_backend(cfg.trainer.compile))
    return module


def _n_parameters(module: Any) -> int:
    return sum(p.numel() for p in module.model.parameters())


def _claim(run: RunDir, cfg: RunConfig, resume: tuple[Path, Path] | None, replace_hint: str) -> tuple[RunDir, str | None]:
    """Take the run directory. Returns it and, for a DDP worker, the directory rank 0 took (such
    a process writes nothing of its own)."""
    from knowit.training.distributed import agree_on_run_dir
    from knowit.training.trainer import is_ddp_child

    ddp_child = is_ddp_child()
    if ddp_child:  # a DDP worker started by rank 0: same run directory
        return RunDir(Path(ddp_child)), ddp_child
    overwrite = cfg.root.overwrite
    # Ranks started by torchrun/srun: rank 0 claims, the others learn its run directory.
    agreed = agree_on_run_dir(lambda: run.claim(overwrite=overwrite, resume=resume is not None, hint=replace_hint) or run.path)
    if agreed is None:
        run.claim(overwrite=overwrite, resume=resume is not None, hint=replace_hint)
    elif not agreed[1]:
        return RunDir(agreed[0]), str(agreed[0])
    return run, None


def _first_summary(cfg: RunConfig, model_name: str, module: Any, datamodule: Any) -> dict[str, Any]:
    """summary.json as the run starts: what is trained on what, and with which versions."""
    import torch

    from knowit.provenance import versions

    summary: dict[str, Any] = {
        "status": "running",
        "model_name": model_name,
        "arch": cfg.arch.name,
        "dataset": cfg.data.name,
        "task": cfg.data.task,
        "n_parameters": _n_parameters(module),
        "torch_threads": torch.get_num_threads(),  # timings are comparable only at equal threads
        "data": datamodule.describe(),
        "data_hash": datamodule.data_hash,
        "versions": versions(),
        "warnings": list(datamodule.warnings),
        # Regression metrics are in the targets' units; the loss in the space it is optimised in.
        "units": {
            "loss": f"scaled targets ({cfg.data.scaling_method}, fitted on training)" if datamodule.target_scaling else "original units",
            "metrics": "original units",
        },
    }
    arch_info = getattr(module.model, "arch_info", None)
    if callable(arch_info):  # what the arch reports about itself, e.g. a TCN's receptive field
        summary["arch_info"] = arch_info()
    return summary


def _run_fit(trainer: Any, module: Any, datamodule: Any, resume: tuple[Path, Path] | None, run: RunDir,
             summary: dict[str, Any], *, leader: bool) -> None:
    """``trainer.fit``, timed into the summary; Ctrl-C and a non-finite loss become one line."""
    from knowit.training.trainer import DDP_RUN_DIR_ENV

    started = time.perf_counter()
    if leader:
        os.environ[DDP_RUN_DIR_ENV] = str(run.path)  # inherited by DDP workers Lightning starts
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume[1]) if resume else None, weights_only=True)
    except BaseException as err:
        summary["train_time_s"] = time.perf_counter() - started
        if isinstance(err, (KeyboardInterrupt, SystemExit)) or _is_nonfinite(err):
            raise _ended_early(err, trainer, run) from None
        raise
    finally:
        if leader:
            os.environ.pop(DDP_RUN_DIR_ENV, None)
    summary["train_time_s"] = time.perf_counter() - started


def _decides_run_dir() -> bool:
    """This process takes the run directory: not a DDP worker of another knowit process, not a
    non-zero rank of an outside launcher (those may find it already made by rank 0)."""
    from knowit.training.distributed import launcher_environment
    from knowit.training.trainer import is_ddp_child

    if is_ddp_child():
        return False
    env = launcher_environment()
    return env is None or env.global_rank() == 0


class _Writer:
    """Runs artefact writes on the process that owns the run directory (rank 0) only."""

    def __init__(self, run: RunDir, *, enabled: bool):
        self.run, self.enabled = run, enabled

    def do(self, fn: Any, *args: Any) -> None:
        if self.enabled:
            fn(*args)


def _is_nonfinite(err: BaseException) -> bool:
    from knowit.training.module import NonFiniteLoss

    return isinstance(err, NonFiniteLoss)


def _ended_early(err: BaseException, trainer: Any, run: RunDir) -> BaseException:
    """Ctrl-C (Lightning turns it into ``sys.exit(1)``) and the NaN guard, as one line that says
    where the run stopped and which checkpoint is left."""
    import signal

    from knowit.errors import KnowItInterrupted
    from knowit.training.module import NonFiniteLoss

    last = run.last_checkpoint
    if _is_nonfinite(err):
        kept = f"the last good checkpoint is kept ({last.relative_to(run.path)})" if last.is_file() else "no checkpoint had been saved yet"
        return NonFiniteLoss(f"{err}; {kept}")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning ignores further Ctrl-C after the first
    if last.is_file():
        return KnowItInterrupted(f"trainer: interrupted at epoch {trainer.current_epoch}; resume with: python -m knowit train trainer.resume={run.path}")
    return KnowItInterrupted(f"trainer: interrupted at epoch {trainer.current_epoch}, before the first checkpoint; nothing to resume")


class ResumeAttempt:
    """The run's record as it was before a resume: restored if the resume fails, the failed
    attempt written beside it in ``resume_failures.json``."""

    KEPT = ("summary.json", "config.yaml", "metrics.csv", "scalers.json")

    def __init__(self, run: RunDir):
        self.run = run
        self.saved = {name: (run.path / name).read_bytes() for name in self.KEPT if (run.path / name).is_file()}

    def restore(self, err: BaseException) -> None:
        import datetime as _dt

        from knowit.atomic_io import read_json, write_atomic, write_json
        from knowit.sweeps.guard import failure_message

        try:
            for name, data in self.saved.items():
                write_atomic(self.run.path / name, lambda p, data=data: p.write_bytes(data))
            for name in set(self.KEPT) - set(self.saved):
                (self.run.path / name).unlink(missing_ok=True)
            record = self.run.path / "resume_failures.json"
            attempts = read_json(record) if record.is_file() else []
            attempts = attempts if isinstance(attempts, list) else []
            attempts.append({"at": _dt.datetime.now().isoformat(timespec="seconds"), "error": failure_message(err)})
            write_json(record, attempts)
        except OSError:
            log.warning("could not restore %s after the failed resume", self.run.path)


def _record_failure(writer: _Writer, run: RunDir, summary: dict[str, Any], err: BaseException, trainer: Any = None) -> None:
    """Mark the run failed (or interrupted) in summary.json, naming the checkpoints that are left."""
    from knowit.errors import KnowItError, KnowItInterrupted
    from knowit.training.callbacks import read_history
    from knowit.training.trainer import model_checkpoint

    summary["status"] = "interrupted" if isinstance(err, (KeyboardInterrupt, SystemExit, KnowItInterrupted)) else "failed"
    summary["error"] = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if not isinstance(err, KnowItError):
        summary["error"] = f"{type(err).__name__}: {summary['error']}"
    summary["epochs"] = len(read_history(run.metrics))
    last = run.last_checkpoint
    summary["last_checkpoint"] = str(last.relative_to(run.path)) if last.is_file() else None
    callback = model_checkpoint(trainer) if trainer is not None else None
    best = Path(callback.best_model_path) if callback is not None and callback.best_model_path else None
    if best is None or not best.is_file():  # Ctrl-C during a save: Lightning names the new best before writing it
        best = run.best_checkpoint()
    if best is not None and best.is_file() and best.resolve().is_relative_to(run.path.resolve()):
        summary["best_checkpoint"] = str(best.resolve().relative_to(run.path.resolve()))
    try:
        writer.do(run.write_summary, summary)
    except OSError:
        log.warning("could not record the failure in %s", run.summary)


def finalize(fitted: Fitted, *, and_viz: bool) -> TrainResult:
    """The last stage: evaluate the best checkpoint on valid and test, predict the shown set once
    (saved as predictions/<set>.parquet), record the summary, draw the plots from the files."""
    run, trainer, module, datamodule, summary, writer = (fitted.run, fitted.trainer, fitted.module, fitted.datamodule,
                                                         fitted.summary, fitted.writer)
    from knowit.plots.curves import learning_curves
    from knowit.results.load import load_weights, read_checkpoint
    from knowit.results.predictions import empty_set_note
    from knowit.training.module import KnowItModule
    from knowit.training.callbacks import read_history
    from knowit.training.trainer import eval_trainer, model_checkpoint

    history = read_history(run.metrics)
    ckpt_cb = model_checkpoint(trainer)
    best = Path(ckpt_cb.best_model_path) if ckpt_cb and ckpt_cb.best_model_path else None
    if best is not None:  # on resume this path comes from the checkpoint's callback state: keep it in the run
        best = run.inside(str(best.resolve()), "the checkpoint callback's best_model_path")
    # Evaluate in this process only: after DDP training the workers have stopped here (metrics
    # would otherwise wait for them).
    leave_process_group()
    if best:  # the weights from the file, the code from this run's own (validated) hyperparameters
        module = load_weights(KnowItModule(**dict(module.hparams)), read_checkpoint(best)["state_dict"], best)
    datamodule.trainer = None  # serve whole sets again (not one DDP shard)
    limits = {"valid": _validated_batches(trainer, datamodule), "test": trainer.limit_test_batches}
    evaluator = eval_trainer(trainer.strategy.root_device.type, limit_val_batches=limits["valid"], limit_test_batches=limits["test"])
    metrics: dict[str, float] = {}
    evaluated = []
    for set_name in ("valid", "test"):
        loader = datamodule.loader(set_name)
        if len(loader) == 0:  # said in the summary, never an error later
            summary.setdefault("not_evaluated", {})[set_name] = empty_set_note(set_name, datamodule)
            log.info("note: %s", summary["not_evaluated"][set_name])
            continue
        method = evaluator.validate if set_name == "valid" else evaluator.test
        out = method(module, dataloaders=loader, verbose=False)
        metrics.update({k: float(v) for k, v in out[0].items()})
        evaluated.append(set_name)
    finite = all(math.isfinite(v) for v in metrics.values())
    summary.update(
        status=summary["status"] if summary["status"] == "interrupted" else "completed" if finite else "failed",
        epochs=len(history),
        best_epoch=_best_epoch(history, ckpt_cb),
        best_checkpoint=str(best.relative_to(run.path.resolve())) if best else None,
        metrics=metrics,
        final={k: v for k, v in (history[-1] if history else {}).items() if k != "epoch"},
        epoch_times=[r.get("epoch_time") for r in history],
    )
    shown = evaluated[-1] if evaluated and finite else None  # test when there is one
    if shown:
        from knowit.results.predictions import predict_set
        from knowit.results.report import set_report_from_arrays

        from knowit.comparison.baselines import baseline_report

        from knowit.results.predictions import frame_of_arrays, save_predictions

        # The shown set is predicted once: the report, the baselines, predictions/<set>.parquet
        # and (below) the plots all use these outputs.
        points, outputs, targets = predict_set(module, datamodule, shown, limit=limits[shown])
        writer.do(save_predictions, frame_of_arrays(datamodule.prepared, points, outputs, targets), run.predictions, shown)
        summary["evaluation"] = set_report_from_arrays(outputs, targets, datamodule.prepared, shown)
        summary["baselines"] = baseline_report(datamodule.prepared, shown, points, outputs, targets, datamodule.cfg.season)
    writer.do(run.write_summary, summary)
    if and_viz:  # plots read the files written above: metrics.csv, predictions/<set>.parquet
        learning_curves(read_history(run.metrics), run.visualizations / "learning_curves.png", title=summary["model_name"])
        if shown:
            import pandas as pd

            from knowit.plots.results import visualize_set

            frame = pd.read_parquet(run.predictions / f"{shown}.parquet")
            visualize_set(frame, summary["task"], shown, run.visualizations, title=summary["model_name"])
    return TrainResult(run_dir=run.path, best_checkpoint=best, metrics=metrics, status=summary["status"], n_parameters=summary["n_parameters"], final=summary["final"],
                       baselines=summary.get("baselines") or {})


def _validated_batches(trainer: Any, datamodule: Any) -> int | float:
    """The ``limit_val_batches`` that makes the final evaluation read the points training
    validated on. Under DDP each process validated the first ``limit`` batches of its own shard;
    point batches are dealt round-robin, so together they are the first batches of the whole set,
    as many as all processes' took (the epoch line's ``valid_*`` and the summary's then agree).
    Contiguous batches shard by streams: no prefix of the whole set matches, the limit stays."""
    from knowit.training.trainer import is_whole_set, limited_batches

    limit, world = trainer.limit_val_batches, trainer.world_size
    if world == 1 or is_whole_set(limit) or datamodule.cfg.batch_sampling == "contiguous":
        return limit
    n = len(datamodule.loader("valid"))
    return sum(limited_batches(limit, len(range(rank, n, world))) for rank in range(world))


def _best_epoch(history: list[dict[str, float]], ckpt_cb: Any) -> int | None:
    if not history or ckpt_cb is None or not ckpt_cb.monitor:
        return None
    values = [(r.get(ckpt_cb.monitor), int(r["epoch"])) for r in history if r.get(ckpt_cb.monitor) is not None]
    if not values:
        return None
    pick = min if ckpt_cb.mode == "min" else max
    return pick(values)[1]
