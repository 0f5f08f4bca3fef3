"""``python -m knowit backtest MODEL [--folds 5] [--mode expanding|sliding] [--refit]``: rolling-origin evaluation."""
HELP = "rolling-origin backtest of a trained model: per-fold scores with naive baselines, mean and 95 percent t-interval"


def _flag(text: str) -> bool:
    import argparse

    lowered = str(text).lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return lowered in ("true", "1", "yes")


def configure(parser) -> None:
    from knowit.commands.common import add_arch, add_exp_dir

    parser.add_argument("model_name", help="a trained model under <exp_dir>/models (one run, or m/rep-<k>)")
    parser.add_argument("--folds", type=int, default=5, help="number of origins across the test region (default: 5)")
    parser.add_argument("--mode", default="expanding", help="expanding (all data before the origin) or sliding (a fixed-length window)")
    parser.add_argument("--refit", nargs="?", const=True, default=False, type=_flag,
                        help="train each fold afresh (--refit, or --refit true); default: score the trained model as it is")
    add_arch(parser)
    add_exp_dir(parser)


def run(ns) -> int:
    from knowit.api import KnowIt

    print(KnowIt(ns.exp_dir).backtest(ns.model_name, ns.folds, mode=ns.mode, refit=ns.refit, arch=ns.arch).format())
    return 0
