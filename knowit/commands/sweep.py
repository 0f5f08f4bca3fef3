"""``python -m knowit sweep summarize DIR``: (re)write and print a sweep's summary.

Sweeps themselves start with ``python -m knowit train -m ...`` (a grid) or
``python -m knowit train hparams_search=<name>`` (a search); their summary is written when they end.
"""
HELP = "sweep tools: 'sweep summarize <sweep dir>' ranks the jobs of a sweep and marks the best"


def configure(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="action", required=True)
    summarize = actions.add_parser("summarize", help="write sweep_summary.csv/.json, the plot and the best link; print the table")
    summarize.add_argument("sweep_dir", help="a sweep directory (<exp_dir>/sweeps/<name>) or a sweep name under --exp-dir")
    summarize.add_argument("--metric", default=None, help="rank by this metric (default: the sweep's optimized_metric)")
    from knowit.commands.common import add_exp_dir

    add_exp_dir(summarize)


def run(ns) -> int:
    from pathlib import Path

    from knowit.api import KnowIt
    from knowit.sweeps.summary import summarize_sweep

    path = Path(ns.sweep_dir)
    if not path.is_dir() and not path.is_absolute():
        path = KnowIt(ns.exp_dir).exp_dir / "sweeps" / ns.sweep_dir
    print(summarize_sweep(path, metric=ns.metric).format())
    return 0
