"""``repeats=N``: the same config trained with N seeds, and what the spread says.

```
<model>/config.yaml      the config as given (seed = the base seed, repeats = N)
<model>/summary.json     mean, std and 95 % t-interval per metric over the repeats; seeds; each repeat
<model>/rep-<k>/         a full run directory trained with seeds[k]
```
``seeds[0]`` is ``seed`` itself (so ``rep-0`` is the run ``repeats=1`` would have made); the
others are drawn from ``numpy.random.SeedSequence(seed)``, so the same ``seed`` always gives
the same list. A seed seeds everything, the split included: with a random split each repeat
also sees another split (a chronological split does not depend on the seed).
``summary.json``'s ``metrics`` hold the means, so sweeps rank configurations by their mean.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from knowit.comparison.stats import t_interval
from knowit.errors import KnowItConfigError
from knowit.rundir import RunDir, auto_model_name

log = logging.getLogger("knowit")


def repeat_seeds(seed: int, repeats: int) -> list[int]:
    """``seed`` then ``repeats - 1`` seeds derived from it (deterministic, below 2**31)."""
    derived = np.random.SeedSequence(seed).generate_state(max(0, repeats - 1), dtype=np.uint32)
    return [int(seed)] + [int(s) % (2**31 - 1) for s in derived]


def intervals(values: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per key present in every dict: n, mean, std and the 95 % t-interval."""
    keys = [k for k in values[0] if all(k in v and v[k] is not None for v in values)] if values else []
    return {k: t_interval([float(v[k]) for v in values]).as_dict() for k in keys}


def _mean_nested(reports: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The mean of ``report[key][name][metric]`` over the repeats (baseline skill and model scores)."""
    out: dict[str, Any] = {}
    first = reports[0].get(key) or {}
    for name, values in first.items():
        if isinstance(values, dict):
            out[name] = {m: float(np.mean([r[key][name][m] for r in reports])) for m in values}
        else:
            out[name] = float(np.mean([r[key][name] for r in reports]))
    return out


def train_repeats(cfg: Any, train: Callable[..., Any], *, run_path: Path | None, and_viz: bool, progress_bar: bool | None,
                  epoch_lines: bool = True) -> tuple[Path, dict[str, Any], dict[str, dict[str, float]]]:
    """Train ``cfg.root.repeats`` runs into ``<run>/rep-<k>`` with ``train`` (the orchestrator's
    ``train_model``, handed in: this layer never imports the runs); returns the directory, its
    summary and the per-metric intervals."""
    n = cfg.root.repeats
    if cfg.trainer.resume:
        raise KnowItConfigError(f"trainer.resume: a run with repeats={n} is resumed one repeat at a time: "
                                "trainer.resume=<model>/rep-<k> with repeats=1")
    name = cfg.root.model_name or auto_model_name(cfg.arch.name, cfg.data.name)
    top = RunDir(Path(run_path) if run_path else RunDir.for_model(cfg.exp_dir, name).path)
    seeds = repeat_seeds(cfg.seed, n)
    top.claim(overwrite=cfg.root.overwrite)
    summary: dict[str, Any] = {"status": "running", "model_name": name, "arch": cfg.arch.name, "dataset": cfg.data.name,
                               "task": cfg.data.task, "repeats": n, "seeds": seeds, "runs": []}
    results = []
    try:
        resolved = cfg.to_dict()
        resolved["model_name"] = name
        top.write_config(resolved)
        top.write_summary(summary)
        for k, seed in enumerate(seeds):
            log.info("repeat %d/%d (seed %d)", k + 1, n, seed)
            root = dataclasses.replace(cfg.root, seed=seed, repeats=1, model_name=f"{name}-rep-{k}", overwrite=False)
            result = train(dataclasses.replace(cfg, root=root), run_path=top.path / f"rep-{k}", and_viz=and_viz,
                                 progress_bar=progress_bar, epoch_lines=epoch_lines)
            results.append(result)
            summary["runs"].append({"rep": k, "seed": seed, "run_dir": f"rep-{k}", "status": result.status, "metrics": result.metrics})
            top.write_summary(summary)
    except BaseException as err:
        summary["status"] = "interrupted" if isinstance(err, (KeyboardInterrupt, SystemExit)) else "failed"
        summary["error"] = f"repeat {len(results)}: {str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}"
        top.write_summary(summary)
        raise
    finally:
        top.release()
    done = [r for r in results if r.status == "completed"]
    summary["status"] = "completed" if len(done) == n else "failed"
    if len(done) < n:
        summary["error"] = f"{n - len(done)} of {n} repeats did not complete"
    stats = intervals([r.metrics for r in done])
    finals = intervals([r.final for r in done])
    summary.update(
        metrics={k: v["mean"] for k, v in stats.items()},
        metrics_std={k: v["std"] for k, v in stats.items()},
        metrics_interval={k: [v["ci_low"], v["ci_high"]] for k, v in stats.items()},
        final={k: v["mean"] for k, v in finals.items()},
        n_parameters=results[0].n_parameters,
    )
    rep_summaries = [RunDir(top.path / f"rep-{k}").read_summary() or {} for k in range(len(results))]
    summary["train_time_s"] = float(sum(s.get("train_time_s") or 0.0 for s in rep_summaries))
    for key in ("data_hash", "units"):  # the same data for every repeat: compare checks it
        if rep_summaries and rep_summaries[0].get(key) is not None:
            summary[key] = rep_summaries[0][key]
    reports = [s["baselines"] for s in rep_summaries if s.get("baselines")]
    if reports and len(reports) == len(rep_summaries):
        summary["baselines"] = {**reports[0], "model": _mean_nested(reports, "model"), "skill": _mean_nested(reports, "skill"),
                                "averaged_over_repeats": len(reports)}
    top.write_summary(summary)
    return top.path, summary, stats


def format_intervals(stats: dict[str, dict[str, float]]) -> str:
    """``name  mean ± std  [low, high]`` per metric: what the CLI prints after a repeated run."""
    if not stats:
        return ""
    width = max(len(k) for k in stats)
    n = next(iter(stats.values()))["n"]
    lines = [f"over {n} repeats: mean ± std  [95 % t-interval]"]
    for k, v in sorted(stats.items()):
        lines.append(f"  {k:<{width}}  {v['mean']:.6g} ± {v['std']:.3g}  [{v['ci_low']:.6g}, {v['ci_high']:.6g}]")
    return "\n".join(lines)
