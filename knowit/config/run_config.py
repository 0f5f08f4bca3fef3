"""Validate a composed config once, into the typed ``RunConfig`` everything downstream uses."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
import warnings
from pathlib import Path
from typing import Any, Optional

from knowit.config.schema import GROUPS, DataConfig, RootConfig, TrainerConfig, as_logged, scheduler_monitor
from knowit.config.validate import build, to_plain, unknown_key_message
from knowit.errors import KnowItConfigError


# config.yaml records a file arch's content hash under arch.<FILE_HASH_KEY>, beside its absolute path.
FILE_HASH_KEY = "file_sha256"


@dataclass
class ArchSpec:
    name: str  # as the user wrote it (a file arch: its absolute path)
    module: str  # import path of the plugin (a file arch: its absolute path)
    args: Any  # the plugin's ArchArgs instance
    file_sha256: Optional[str] = None  # a file arch: the sha256 of the file's content
    stateful_key: str | None = None  # arch.<STATEFUL_ARG> when the model carries states between batches
    input_layout: str = "any"  # the plugin's INPUT_LAYOUT for these args (see knowit.registry.LAYOUTS)


@dataclass
class RunConfig:
    root: RootConfig
    data: DataConfig
    arch: ArchSpec
    trainer: TrainerConfig

    @property
    def exp_dir(self) -> Path:
        return Path(self.root.exp_dir).expanduser().resolve()

    @property
    def seed(self) -> int:
        return self.root.seed

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain containers: what ``config.yaml`` holds."""
        out = to_plain(self.root)
        out["exp_dir"] = str(self.exp_dir)
        out["data"] = to_plain(self.data)
        out["arch"] = {"name": self.arch.name, **to_plain(self.arch.args)}
        if self.arch.file_sha256:
            out["arch"][FILE_HASH_KEY] = self.arch.file_sha256
        out["trainer"] = to_plain(self.trainer)
        return out


def validate_arch(node: Any, task: str) -> ArchSpec:
    from knowit import registry

    if not isinstance(node, Mapping) or "name" not in node:
        raise KnowItConfigError("arch.name: missing; choose one of: " + ", ".join(registry.available_archs()))
    name = node["name"]
    if not isinstance(name, str):
        raise KnowItConfigError(f"arch.name: expected a string, got {name!r}")
    path = registry.module_path(name)
    module = registry.resolve(name)
    digest = None
    if registry.is_file(name):
        name, digest = path, registry.file_sha256(path)
        recorded = node.get(FILE_HASH_KEY)
        if recorded and recorded != digest:
            warnings.warn(
                f"arch.name: {path} has changed since this run was trained (sha256 {str(recorded)[:12]}... is now "
                f"{digest[:12]}...); the model is built from the file as it is now", stacklevel=2)
    tasks = registry.supported_tasks(module)
    if task not in tasks:
        raise KnowItConfigError(f"data.task: architecture {name!r} supports {', '.join(tasks)}, not {task!r}")
    args = build(module.ArchArgs, {k: v for k, v in node.items() if k not in ("name", FILE_HASH_KEY)}, "arch")
    return ArchSpec(name=name, module=path, args=args, file_sha256=digest, stateful_key=registry.stateful_key(module, args),
                    input_layout=registry.input_layout(module, args))


def validate_saved(raw: Any, source: Path) -> RunConfig:
    """A run's saved ``config.yaml`` validated again into a ``RunConfig``: what loads a run reads.
    A run whose config no longer validates (written by an older knowit, edited by hand) is a
    KnowItConfigError naming the file and the key."""
    if not isinstance(raw, Mapping):
        raise KnowItConfigError(f"config: {source} does not hold a mapping of config keys")
    try:
        return validate({k: v for k, v in raw.items() if k != "hydra"})
    except KnowItConfigError as err:
        raise KnowItConfigError(f"config: {source} no longer validates: {err}") from None


def validate(raw: Mapping[str, Any]) -> RunConfig:
    """Check every key of a composed config; raise KnowItConfigError naming the first bad one."""
    from knowit.config.smoke import smoke_settings

    raw = smoke_settings(raw)  # KNOWIT_SMOKE=1: one epoch, a couple of batches
    root_keys = [f.name for f in fields(RootConfig)]
    for key in raw:
        if key not in root_keys and key not in GROUPS:
            raise KnowItConfigError(unknown_key_message("", str(key), root_keys + list(GROUPS)))
    root = build(RootConfig, {k: raw[k] for k in root_keys if k in raw}, "")
    data = build(DataConfig, raw.get("data"), "data")
    trainer = build(TrainerConfig, raw.get("trainer"), "trainer")
    arch = validate_arch(raw.get("arch"), data.task)
    name_the_loss(root, data, trainer)
    return RunConfig(root=root, data=data, arch=arch, trainer=trainer)


def name_the_loss(root: RootConfig, data: DataConfig, trainer: TrainerConfig) -> None:
    """``<stage>_loss`` in a monitor or ``optimized_metric`` means the run's loss; where the loss is
    on scaled targets it is logged as ``<stage>_loss_scaled``, and the resolved config says so."""
    scaled = data.scales_targets
    trainer.checkpoint.monitor = as_logged(trainer.checkpoint.monitor, scaled)
    trainer.early_stopping.monitor = as_logged(trainer.early_stopping.monitor, scaled)
    if root.optimized_metric:
        root.optimized_metric = as_logged(root.optimized_metric, scaled)
    watched = scheduler_monitor(trainer.lr_scheduler, trainer.lr_scheduler_kwargs)
    if watched:
        trainer.lr_scheduler_kwargs = {**trainer.lr_scheduler_kwargs, "monitor": as_logged(watched, scaled)}
