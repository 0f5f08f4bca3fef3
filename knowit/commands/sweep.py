"""``python -m knowit sweep summarize DIR``: (re)write and print a sweep's summary.

Sweeps themselves start with ``python -m knowit train -m ...`` (a grid) or
``python -m knowit train hparams_search=<name>`` (a search); their summary is written when they end.
"""
HELP = ("sweep tools: 'sweep summarize <sweep dir>' ranks the jobs of a sweep and marks the best; "
        "'sweep resume <sweep dir>' runs the jobs an interrupted grid sweep never finished")


def configure(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="action", required=True)
    summarize = actions.add_parser("summarize", help="write sweep_summary.csv/.json, the plot and the best link; print the table")
    summarize.add_argument("sweep_dir", help="a sweep directory (<exp_dir>/sweeps/<name>) or a sweep name under --exp-dir")
    summarize.add_argument("--metric", default=None, help="rank by this metric (default: the sweep's optimized_metric)")
    resume = actions.add_parser("resume", help="run only the planned jobs of an interrupted grid sweep that never finished")
    resume.add_argument("sweep_dir", help="a sweep directory (<exp_dir>/sweeps/<name>) or a sweep name under --exp-dir")
    from knowit.commands.common import add_arch, add_exp_dir

    add_arch(resume)

    add_exp_dir(summarize)
    add_exp_dir(resume)


def run(ns) -> int:
    from pathlib import Path

    from knowit.api import KnowIt
    from knowit.sweeps.summary import summarize_sweep

    path = Path(ns.sweep_dir)
    if not path.is_dir() and not path.is_absolute():
        path = KnowIt(ns.exp_dir).exp_dir / "sweeps" / ns.sweep_dir
    if ns.action == "resume":
        resume_grid(path, ns.arch)
    print(summarize_sweep(path, metric=getattr(ns, "metric", None)).format())
    return 0


def resume_grid(path, arch: str | None = None) -> None:
    """Run the planned jobs that never finished, each from the overrides the sweep recorded."""
    import sys

    from knowit.config.compose import compose
    from knowit.config.run_config import validate
    from knowit.orchestrator import plan
    from knowit.results.load import trusted_arch
    from knowit.sweeps.plan import jobs_to_resume
    from knowit.sweeps.sequential import train_job

    todo = jobs_to_resume(path)
    configs = []
    for number, overrides in todo:  # every job checked before the first runs
        raw = compose(overrides)
        # The plan is a file in the sweep folder: like a run folder, it never chooses code by itself.
        raw["arch"]["name"] = trusted_arch(str(raw["arch"]["name"]), arch, f"job {number} of {path.name} names")
        configs.append(validate(raw))
    for cfg in configs:
        plan(cfg)
    for (number, overrides), cfg in zip(todo, configs):
        print(f"sweep {path.name}: job {number}: {' '.join(overrides)}", file=sys.stderr)
        _, error = train_job(path, number, overrides, cfg)
        if error:
            print(f"knowit: error: job {number}: {error}", file=sys.stderr)
