"""``KI.interpret_model``: choose points of a set, attribute the model's outputs to their input
windows, save the attributions (``<run>/interpretations/*.npz``) and draw their heatmaps."""
from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from knowit.errors import KnowItConfigError, KnowItRunError
from knowit.config.options import InterpreterConfig
from knowit.registry import layout_for_rank

log = logging.getLogger("knowit")
BASELINE_SAMPLE = 10_000  # training points averaged for the mean baseline
MAX_DEFAULT_OUTPUTS = 16


@dataclass
class Interpretation:
    attributions: np.ndarray  # (points, explained outputs, *input shape)
    points: np.ndarray
    explained_outputs: np.ndarray  # (points, explained outputs): the flat output index explained
    file: Path
    plots: list[Path] = field(default_factory=list)
    # The model's own weights for the chosen points (``Model.explain()``), e.g. the TFT's
    # explain_variable_weights (points, in_len, n_in) and explain_attention (points, in_len, in_len).
    explanations: dict[str, np.ndarray] = field(default_factory=dict)
    # Names along the input axes, where they have names: a series' (time offsets, components).
    axis_names: list[list[str]] | None = None

    def peak(self) -> tuple[str, float]:
        """Where the mean |attribution| over points and outputs is largest, as ``'t-2, x3'``
        (input indices for inputs without names), and its value."""
        mean = np.abs(self.attributions).mean(axis=(0, 1))
        index = np.unravel_index(int(mean.argmax()), mean.shape)
        if self.axis_names and len(self.axis_names) == len(index):
            where = ", ".join(names[i] for names, i in zip(self.axis_names, index))
        else:
            where = "input index " + str(tuple(int(i) for i in index))
        return where, float(mean.max())

    def __repr__(self) -> str:
        where, value = self.peak()
        return (f"Interpretation({len(self.points)} points x {self.explained_outputs.shape[1]} outputs, "
                f"input {tuple(self.attributions.shape[2:])}, peak mean |attribution| {value:.4g} at {where}, file={str(self.file)!r})")


def offset_name(offset: int) -> str:
    """A window row relative to the prediction point: ``t``, ``t-2``, ``t+1``."""
    return "t" if offset == 0 else f"t{int(offset):+d}"


def require_captum() -> None:
    if importlib.util.find_spec("captum") is None:
        raise KnowItRunError("interpreter: captum is not installed; install it with: pip install 'knowit[interpret]'")


def interpret(loaded: Any, cfg: InterpreterConfig) -> Interpretation:
    from knowit.results.predictions import predict_set, run_data

    require_captum()
    datamodule = run_data(loaded)
    prepared = datamodule.prepared
    module = loaded.module.eval()
    model = module.model
    stateful = loaded.cfg.arch.stateful_key is not None
    if stateful and not hasattr(model, "get_states"):
        raise KnowItRunError(f"interpreter: the stateful architecture {loaded.cfg.arch.name} does not offer get_states/set_states to replay its context")
    set_points = prepared.set_points(cfg.interpretation_set)
    if len(set_points) == 0:
        raise KnowItRunError(f"interpreter.interpretation_set: the {cfg.interpretation_set} set of this run is empty")

    rng = np.random.default_rng(cfg.seed)
    if cfg.selection in ("success", "failure") or stateful:
        # A stateful model's stream serves its own points (every stream_stride-th): choose among those.
        points, outputs, targets = predict_set(module, datamodule, cfg.interpretation_set)
        pool = points
        if cfg.selection in ("success", "failure"):
            good = _successes(outputs, targets, prepared.task)
            pool = points[good if cfg.selection == "success" else ~good]
            if len(pool) == 0:
                raise KnowItRunError(f"interpreter.selection: no {cfg.selection!r} points in the {cfg.interpretation_set} set ({len(points)} points, {int(good.sum())} successes)")
    else:
        pool = set_points
    pool = np.unique(pool).astype(np.int64)
    chosen = np.sort(pool if cfg.selection == "all" or cfg.size >= len(pool) else rng.choice(pool, cfg.size, replace=False))

    device = next(module.parameters()).device
    batch = prepared.batch(torch.as_tensor(chosen))
    x, y = batch["x"].to(device), batch["y"]
    states = _replay(module, datamodule, cfg.interpretation_set, chosen) if stateful else None
    with torch.no_grad():
        if states is not None:
            model.set_states([s.to(device) for s in states])
        raw = model(x).reshape(len(chosen), -1)
        # Weights the model shows about this very forward (TFT: variable selection, attention).
        own = model.explain() if callable(getattr(model, "explain", None)) else {}
    explained = _explained_outputs(raw, prepared.task, cfg)
    baseline, distribution = _baselines(prepared, cfg, rng, device)

    from knowit.interpret.attribution import Explained, attribute

    wrapper = Explained(model).eval()
    result = np.zeros((len(chosen), explained.shape[1], *x.shape[1:]), dtype=np.float32)
    for start in range(0, len(chosen), cfg.batch_size):
        rows = slice(start, start + cfg.batch_size)
        part_states = [s[rows].to(device) for s in states] if states is not None else None
        for k in range(explained.shape[1]):
            target = torch.as_tensor(explained[rows, k], device=device)
            values = attribute(wrapper, cfg.interpretation_method, x[rows], target, baseline=baseline, distribution=distribution,
                               states=part_states, multiply_by_inputs=cfg.multiply_by_inputs, n_steps=cfg.n_steps)
            result[rows, k] = values.detach().float().cpu().numpy()
        log.info("interpret: %d/%d points", min(start + cfg.batch_size, len(chosen)), len(chosen))
    arrays = _record(loaded, prepared, cfg, chosen, x, y, raw, explained, result, baseline)
    explanations = {f"explain_{key}": value.detach().float().cpu().numpy() for key, value in own.items()}
    arrays.update(explanations)
    name = f"{cfg.interpretation_method}_{cfg.interpretation_set}_{cfg.selection}"
    file = _save(loaded.run.path / "interpretations" / f"{name}.npz", arrays)
    from knowit.plots.attributions import attribution_plots

    from knowit.plots.explanations import explanation_plots

    folder = loaded.run.visualizations / "interpretation"
    plots = attribution_plots(arrays, layout_for_rank(loaded.cfg.arch.input_layout, x.ndim - 1), folder, name, cfg.plot_points)
    plots += explanation_plots(arrays, folder, name, Path(str(loaded.cfg.arch.name)).stem)
    axis_names = None
    if prepared.spec is not None and result.ndim == 4:  # a series window: (time, components)
        axis_names = [[offset_name(o) for o in prepared.spec.in_offsets], [str(c) for c in prepared.in_components]]
    return Interpretation(result, chosen, explained, file, plots, explanations, axis_names)


def _successes(outputs: np.ndarray, targets: np.ndarray, task: str) -> np.ndarray:
    """Classification: the predicted class is right. Regression: the point's mean absolute error
    is at most the set's median (the better half)."""
    if task == "classification":
        return outputs.argmax(-1) == targets.reshape(-1)
    n = len(outputs)
    error = np.abs(outputs.reshape(n, -1) - targets.reshape(n, -1)).mean(axis=1)
    return error <= np.median(error)


def _explained_outputs(raw: torch.Tensor, task: str, cfg: InterpreterConfig) -> np.ndarray:
    """Which flat output each attribution explains: the predicted class, or the chosen outputs."""
    n, n_out = raw.shape
    if task == "classification":
        return raw.argmax(-1).cpu().numpy().reshape(n, 1)
    wanted = cfg.outputs
    if wanted is None:
        if n_out > MAX_DEFAULT_OUTPUTS:
            raise KnowItConfigError(f"interpreter.outputs: the model has {n_out} outputs; choose which to explain, e.g. outputs=[0]")
        wanted = list(range(n_out))
    bad = [i for i in wanted if i >= n_out]
    if bad:
        raise KnowItConfigError(f"interpreter.outputs: index {bad[0]} is out of range; the model has {n_out} outputs (0..{n_out - 1})")
    return np.tile(np.asarray(wanted, dtype=np.int64), (n, 1))


def _baselines(prepared: Any, cfg: InterpreterConfig, rng: np.random.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    train = prepared.set_points("train")
    if len(train) == 0 and (cfg.baseline == "mean" or cfg.interpretation_method == "DeepLiftShap"):
        raise KnowItRunError("interpreter.baseline: the run has no training points to build a baseline from; use baseline=zeros")
    shape = prepared.input_dim
    if cfg.baseline == "zeros":
        baseline = torch.zeros(1, *shape)
    else:
        sample = train if len(train) <= BASELINE_SAMPLE else np.sort(rng.choice(train, BASELINE_SAMPLE, replace=False))
        total = torch.zeros(*shape, dtype=torch.float64)
        for start in range(0, len(sample), 1024):
            total += prepared.batch(torch.as_tensor(sample[start:start + 1024]))["x"].double().sum(0)
        baseline = (total / len(sample)).float().unsqueeze(0)
    distribution = None
    if cfg.interpretation_method == "DeepLiftShap":
        picks = np.sort(rng.choice(train, min(cfg.n_baseline_samples, len(train)), replace=False))
        distribution = prepared.batch(torch.as_tensor(picks))["x"].to(device)
    return baseline.to(device), distribution


@torch.no_grad()
def _replay(module: Any, datamodule: Any, set_name: str, chosen: np.ndarray) -> list[torch.Tensor]:
    """Run the set's contiguous stream in order and keep the states each chosen point's window
    starts from (what the model carried into it when it predicted that point)."""
    model = module.model
    device = next(module.parameters()).device
    module._reset_states()
    wanted = {int(p): i for i, p in enumerate(chosen)}
    wanted_left = set(wanted.values())
    kept: list[torch.Tensor] | None = None
    for batch in datamodule.loader(set_name):
        if "reset" in batch:
            module._reset_states(batch["reset"].to(device))
        x = batch["x"].to(device)
        states = model.get_states(x.shape[0])
        rows = [(r, wanted[int(p)]) for r, p in enumerate(batch["point"].tolist()) if int(p) in wanted]
        if rows:
            if kept is None:
                kept = [s.new_zeros(len(chosen), *s.shape[1:]) for s in states]
            src = torch.as_tensor([r for r, _ in rows], device=device)
            dst = torch.as_tensor([d for _, d in rows], device=device)
            for store, state in zip(kept, states):
                store[dst] = state[src].to(store.dtype)
        model(x)
        for _, d in rows:
            wanted_left.discard(d)
    if kept is None or wanted_left:
        raise KnowItRunError(f"interpreter: {len(wanted_left) if kept is not None else len(chosen)} chosen points were not served by the {set_name} stream")
    return [s.cpu() for s in kept]


def _record(loaded: Any, prepared: Any, cfg: InterpreterConfig, chosen: np.ndarray, x: torch.Tensor, y: torch.Tensor,
            raw: torch.Tensor, explained: np.ndarray, attributions: np.ndarray, baseline: torch.Tensor) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {
        "attributions": attributions,
        "inputs": x.detach().float().cpu().numpy(),
        "baseline": baseline.detach().float().cpu().numpy()[0],
        "points": chosen.astype(np.int64),
        "explained_output": explained,
        "output": raw.detach().float().cpu().numpy(),
        "target": y.numpy(),
        "method": np.asarray(cfg.interpretation_method),
        "set": np.asarray(cfg.interpretation_set),
        "selection": np.asarray(cfg.selection),
        "multiply_by_inputs": np.asarray(cfg.multiply_by_inputs),
    }
    for key, values in prepared.point_columns(chosen).items():
        values = np.asarray(values)
        arrays[key] = values.astype(str) if values.dtype == object else values
    if prepared.spec is not None:
        arrays["in_offsets"] = prepared.spec.in_offsets
        arrays["in_components"] = np.asarray(prepared.in_components, dtype=str)
    return arrays


def _save(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    from knowit.atomic_io import write_atomic
    from knowit.errors import os_errors_as_run_errors

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    with os_errors_as_run_errors("model_name"):
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_atomic(path, write)
