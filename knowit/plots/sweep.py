"""The sweep plot: the optimised metric against each swept hyperparameter, the best job starred."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from knowit.atomic_io import write_atomic


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def sweep_plot(summary: Any, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [j for j in summary.jobs if j["status"] == "completed"]
    n = len(summary.params)
    fig, axes = plt.subplots(1, n, figsize=(4.5 * n, 3.8), squeeze=False, sharey=True)
    for ax, param in zip(axes[0], summary.params):
        xs = [j["params"].get(param) for j in done]
        ys = [j["value"] for j in done]
        if _numeric(xs):
            positions = xs
            positive = [x for x in xs if x > 0]
            if len(positive) == len(xs) and max(xs) / min(xs) >= 20:
                ax.set_xscale("log")
        else:  # categorical values: one column each, in order of first appearance
            labels = list(dict.fromkeys(str(x) for x in xs))
            positions = [labels.index(str(x)) for x in xs]
            ax.set_xticks(range(len(labels)), labels, rotation=20)
        ax.scatter(positions, ys, s=36, color="tab:blue", alpha=0.8, label="job")
        if summary.best is not None:
            bx = positions[done.index(summary.best)]
            ax.scatter([bx], [summary.best["value"]], s=200, marker="*", color="tab:red", zorder=3, label=f"best (job {summary.best['job']})")
        ax.set_xlabel(param)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{summary.metric} ({'lower' if summary.direction == 'minimize' else 'higher'} is better)")
    axes[0][0].legend(fontsize=8)
    failed = len(summary.jobs) - len(done)
    fig.suptitle(f"{summary.metric} over {len(done)} jobs" + (f" ({failed} failed, not shown)" if failed else ""))
    fig.tight_layout()
    write_atomic(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)
    return path
