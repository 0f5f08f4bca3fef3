"""Typed schemas of the config groups. Defaults here are the documented defaults.

The YAML files in ``conf/`` select and override these; every key a YAML file or an override
sets must exist here (the validator names the full key path otherwise).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

from knowit.config.validate import FieldError

TASKS = ("regression", "classification")
SETS = ("train", "valid", "test")  # the three sets a dataset's points are split into


def loss_name(stage: str, scaled: bool) -> str:
    """The logged name of a stage's loss: ``valid_loss``, or ``valid_loss_scaled`` when it is
    computed on scaled regression targets (so no one reads it as a number in original units)."""
    return f"{stage}_loss_scaled" if scaled else f"{stage}_loss"


def as_logged(metric: str, scaled: bool) -> str:
    """A metric name as a run logs it: ``<stage>_loss`` means the loss in whatever space it is in."""
    return next((loss_name(s, scaled) for s in SETS if metric == loss_name(s, False)), metric)


def scheduler_name(name: str | None) -> str | None:
    """``null`` and ``none`` both mean no scheduler."""
    return None if name is None or str(name).lower() == "none" else name


def scheduler_monitor(name: str | None, kwargs: dict[str, Any]) -> str | None:
    """The metric a plateau scheduler watches (``lr_scheduler_kwargs.monitor``, default valid_loss)."""
    if scheduler_name(name) and name.lower() == "reducelronplateau":
        return kwargs.get("monitor", "valid_loss")
    return None


LOGGERS = ("csv", "tensorboard", "mlflow", "wandb")
SPLIT_METHODS = (
    "auto", "chronological", "random", "instance-random", "instance-chronological",
    "slice-random", "slice-chronological", "custom",
)


@dataclass
class DataConfig:
    """Which dataset, which windows, how to split and scale (KnowIt's data arguments)."""

    name: str = "synth_regression"  # dataset: a built-in (synth_*) or one imported into <exp_dir>/datasets
    task: str = field(default="regression", metadata={"choices": TASKS})  # regression or classification
    in_components: Optional[list[str]] = None  # null: every component not in out_components; a regression forecast (out_chunk after in_chunk) also reads the outputs' own past
    out_components: Optional[list[str]] = None  # null: the dataset's declared targets
    in_chunk: list[int] = field(default_factory=lambda: [-31, 0], metadata={"length": 2})  # input window: [first, last] row offset relative to the prediction point
    out_chunk: list[int] = field(default_factory=lambda: [0, 0], metadata={"length": 2})  # output window: [first, last] row offset relative to the prediction point
    split_portions: list[float] = field(  # train, valid, test shares (sum to 1)
        default_factory=lambda: [0.6, 0.2, 0.2], metadata={"length": 3, "ge": 0.0, "le": 1.0}
    )
    # auto: chronological for time series; random (stratified by class for classification) for array datasets
    split_method: str = field(default="auto", metadata={"choices": SPLIT_METHODS})  # how points are divided between train/valid/test
    split_column: Optional[str] = None  # for split_method=custom: values train/valid/test
    batch_size: int = field(default=64, metadata={"ge": 1})  # samples per batch
    shuffle_train: bool = True  # shuffle training batches (random batch sampling)
    # Shuffling single points makes every window of a memory-mapped series larger than RAM a random disk read.
    shuffle_block: Optional[int] = field(default=None, metadata={"ge": 1})  # null: shuffle training points one by one; N: shuffle blocks of N consecutive points, mixing 64 blocks at a time, so an epoch reads the series in long runs (a series larger than RAM)
    # contiguous: row i of every batch continues stream i in time (stateful models, LSTM tracking)
    batch_sampling: str = field(default="random", metadata={"choices": ("random", "contiguous")})
    stream_stride: Optional[int] = field(default=None, metadata={"ge": 1})  # null: the input window length
    scaling_method: Optional[str] = field(default="z-norm", metadata={"choices": ("z-norm", "zero-one", None)})  # z-norm, zero-one or null; fitted on training rows only
    scaling_tag: Optional[str] = field(default="full", metadata={"choices": ("full", "in_only", None)})  # full: scale inputs and targets; in_only: inputs only
    padding: Optional[str] = field(default=None, metadata={"choices": (None, "zeros")})  # zeros: pad windows at slice starts instead of dropping those points
    season: Optional[int] = field(default=None, metadata={"ge": 1})  # rows per season for the seasonal naive baseline; null: inferred from the calendar frequency
    val_fraction: float = field(default=0.2, metadata={"gt": 0.0, "lt": 1.0})  # array datasets: the validation share of the non-test samples
    stratify: Optional[bool] = None  # array datasets (classification): keep class proportions in every set; null: yes when the split is random
    class_weights: Optional[Union[str, list[float]]] = None  # classification: null, balanced (inverse class frequency) or one weight per class
    num_workers: int = field(default=0, metadata={"ge": 0})  # DataLoader worker processes (0: load in the training process)
    pin_memory: Optional[bool] = None  # page-locked batches for asynchronous host-to-GPU copies; null: on when training on CUDA

    @property
    def scales_targets(self) -> bool:
        """Regression targets are scaled for training (and the loss is in that space): the one rule
        that data preparation and the loss name both read."""
        return bool(self.scaling_method and self.scaling_tag == "full" and self.task == "regression")

    def check(self) -> None:
        if self.in_chunk[0] > self.in_chunk[1]:
            raise FieldError("in_chunk", f"start {self.in_chunk[0]} is after end {self.in_chunk[1]}")
        if self.out_chunk[0] > self.out_chunk[1]:
            raise FieldError("out_chunk", f"start {self.out_chunk[0]} is after end {self.out_chunk[1]}")
        total = sum(self.split_portions)
        if abs(total - 1.0) > 1e-6:
            raise FieldError("split_portions", f"portions must sum to 1, they sum to {total:g}")
        if self.split_portions[0] <= 0:
            raise FieldError("split_portions", "the training portion must be > 0")
        if self.shuffle_block is not None and (self.batch_sampling != "random" or not self.shuffle_train):
            raise FieldError("shuffle_block", "shuffles training batches: it needs batch_sampling=random and shuffle_train=true")
        if self.split_method == "custom" and not self.split_column:
            raise FieldError("split_column", "split_method=custom needs the name of a split column")


@dataclass
class EarlyStoppingConfig:
    enabled: bool = False  # stop when the monitored metric stops improving
    monitor: str = "valid_loss"  # a logged metric: train_*/valid_* loss or metric (*_loss means *_loss_scaled on scaled regression targets)
    patience: int = field(default=5, metadata={"ge": 0})  # epochs without improvement before stopping
    mode: str = field(default="min", metadata={"choices": ("min", "max")})  # min: lower is better; max: higher is better
    min_delta: float = field(default=0.0, metadata={"ge": 0.0})  # the smallest change that counts as an improvement


@dataclass
class CheckpointConfig:
    monitor: str = "valid_loss"  # a logged metric: train_*/valid_* loss or metric (*_loss means *_loss_scaled on scaled regression targets)
    mode: str = field(default="min", metadata={"choices": ("min", "max")})  # min: lower is better; max: higher is better
    save_top_k: int = field(default=1, metadata={"ge": -1})  # best checkpoints kept (-1: all)
    save_last: bool = True  # also keep last.ckpt, written after every epoch (resume)


@dataclass
class TrainerConfig:
    """How to train: optimiser, loss, metrics, stopping and the Lightning Trainer's knobs."""

    max_epochs: int = field(default=10, metadata={"ge": 1})  # epochs to train (resume: the new total)
    max_time: Optional[str] = None  # "DD:HH:MM:SS"
    learning_rate: float = field(default=1e-3, metadata={"gt": 0.0})  # the optimiser's learning rate
    optim: str = "Adam"  # any torch.optim optimiser by name (Adam, AdamW, SGD, ...)
    optim_kwargs: dict[str, Any] = field(default_factory=dict)  # extra optimiser arguments (momentum, betas, ...), checked before training; Adam/AdamW: fused unless fused/foreach is given
    weight_decay: float = field(default=0.0, metadata={"ge": 0.0})  # L2 weight decay passed to the optimiser
    lr_scheduler: Optional[str] = None  # any torch.optim.lr_scheduler by name (StepLR, ReduceLROnPlateau, ...); null: none
    lr_scheduler_kwargs: dict[str, Any] = field(default_factory=dict)  # scheduler arguments; plus monitor (ReduceLROnPlateau) and interval (epoch/step)
    loss_fn: Optional[str] = None  # null: mse_loss (regression) / cross_entropy (classification); any torch.nn.functional loss, pinball_loss, or a dotted path
    loss_kwargs: dict[str, Any] = field(default_factory=dict)  # extra loss arguments (e.g. label_smoothing)
    performance_metrics: Optional[list[Union[str, dict[str, Any]]]] = None  # null: accuracy (classification) / mae (regression); also any torchmetrics class, a dotted path, or {name: ..., <kwargs>}
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    gradient_clip_val: Optional[float] = field(default=None, metadata={"gt": 0.0})  # clip the gradient norm to this value; null: no clipping
    accumulate_grad_batches: int = field(default=1, metadata={"ge": 1})  # batches per optimiser step
    precision: Union[str, int] = field(default="32", metadata={"choices": ("32", "64", "16-mixed", "bf16-mixed", "bf16-true")})  # 32, 64, 16-mixed, bf16-mixed or bf16-true
    accelerator: str = "auto"  # auto (GPU when present), cpu, gpu, mps
    devices: Union[int, str, list[int]] = "auto"  # auto, a count, or a list of device indices
    strategy: str = "auto"  # auto, ddp, ddp_spawn, ... (trainer=ddp_cpu: DDP on CPU)
    num_nodes: int = field(default=1, metadata={"ge": 1})  # machines for distributed training
    logger: Union[list[str], str] = field(default_factory=lambda: ["csv"])  # one or a list: csv (metrics.csv, always written), tensorboard, mlflow (SQLite store in the run), wandb (offline)
    progress_bar: Optional[bool] = None  # true: the progress bar; false: one line per epoch; null: the bar on a terminal or in a notebook, lines otherwise
    limit_train_batches: Union[int, float] = field(default=1.0, metadata={"gt": 0})  # a fraction or a count of training batches per epoch
    limit_val_batches: Union[int, float] = field(default=1.0, metadata={"ge": 0})  # a fraction or a count of validation batches per epoch
    limit_test_batches: Union[int, float] = field(default=1.0, metadata={"ge": 0})  # a fraction or a count of test batches
    deterministic: bool = False  # ask torch for deterministic kernels (slower; CPU runs repeat without it)
    compile: Union[bool, str] = False  # torch.compile the arch's forward: true (inductor) or a torch.compile backend name; the first steps compile
    resume: Optional[str] = None  # a run directory, a model name or a checkpoint file to continue from
    resume_changed_data: bool = False  # resume even though the dataset's contents changed since the run started

    def check(self) -> None:
        if isinstance(self.logger, str):
            self.logger = [self.logger]
        for i, name in enumerate(self.logger):
            if name not in LOGGERS:
                raise FieldError(f"logger[{i}]", f"{name!r} is not a logger; choose from: {', '.join(LOGGERS)}")


NAME_MAX = 255  # bytes in one file or directory name (Linux, macOS, Windows)
BACKTEST_MODES = ("expanding", "sliding")
SWEEP_OBJECTIVES = ("validation", "backtest")


@dataclass
class SweepBacktestConfig:
    """The rolling-origin backtest each sweep job runs under `sweep.objective=backtest`."""

    folds: int = field(default=3, metadata={"ge": 2})  # origins over the training+validation region; each fold trains the job's config afresh
    mode: str = field(default="expanding", metadata={"choices": BACKTEST_MODES})  # expanding: train on everything before the origin; sliding: keep the first fold's span


@dataclass
class SweepConfig:
    """What a sweep job returns to the sweeper (Optuna included) and the sweep summary ranks by."""

    # validation: the job's optimized_metric (valid_*, test_*, train_*); backtest: a rolling-origin backtest
    # over the region before the test set (never read), optimized_metric=backtest_<score>: the mean over folds
    objective: str = field(default="validation", metadata={"choices": SWEEP_OBJECTIVES})
    backtest: SweepBacktestConfig = field(default_factory=SweepBacktestConfig)


@dataclass
class RootConfig:
    """Top-level keys beside the three groups."""

    exp_dir: str = "knowit_exp"  # the experiment directory: datasets/, models/, sweeps/ ($KNOWIT_EXP_DIR)
    model_name: Optional[str] = None  # null: a unique name is made from arch, data and time
    seed: int = field(default=123, metadata={"ge": 0})  # seeds splits, initialisation, shuffling and every epoch's RNG
    overwrite: bool = False  # replace an existing run or sweep of the same name
    repeats: int = field(default=1, metadata={"ge": 1})  # train the config with this many seeds (derived from seed) into <model>/rep-<k>; summaries report mean, std and 95 % interval
    optimized_metric: Optional[str] = "valid_loss"  # what a sweep job returns and the sweep summary ranks by (valid_*, test_*, train_*; *_loss as for monitor; backtest_* under sweep.objective=backtest)
    sweep: SweepConfig = field(default_factory=SweepConfig)

    def check(self) -> None:
        if self.sweep.objective == "backtest" and self.repeats > 1:
            raise FieldError("sweep.objective", f"backtest ranks a job by its interval over folds; it runs with repeats=1, not {self.repeats}")
        if self.model_name is not None and dir_name_problem(self.model_name):
            raise FieldError("model_name", dir_name_problem(self.model_name))


def dir_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be one directory's name on Linux, macOS and Windows (None: it can)."""
    bad = set(name) & set('/\\:*?"<>|')
    control = any(ord(c) < 32 for c in name)  # NUL and friends: no filesystem takes them
    if not name.strip() or bad or control or name.startswith("."):
        return f"{name!r} cannot be a directory name"
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > NAME_MAX:
        return f"{size} bytes long; a directory name holds at most {NAME_MAX}"
    return None


GROUPS = ("data", "arch", "trainer")
