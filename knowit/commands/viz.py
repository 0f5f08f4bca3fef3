"""``python -m knowit viz MODEL [--set test] [--min-probability P]``: the result plots of a trained model."""
HELP = "draw a trained model's plots (learning curves, confusion matrix/report or r2, series, forecasts) into <run>/visualizations"


def configure(parser) -> None:
    from knowit.commands.common import add_arch, add_exp_dir

    parser.add_argument("model_name", help="a trained model under <exp_dir>/models")
    parser.add_argument("--set", dest="set_name", default="test", help="train, valid or test (default: test)")
    parser.add_argument("--min-probability", type=float, default=0.0, help="classification report: withhold predictions below this probability")
    add_arch(parser)
    add_exp_dir(parser)


def run(ns) -> int:
    from knowit.api import KnowIt

    for path in KnowIt(ns.exp_dir).visualize(ns.model_name, ns.set_name, min_probability=ns.min_probability, arch=ns.arch):
        print(path)
    return 0
