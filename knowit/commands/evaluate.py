"""``python -m knowit evaluate MODEL [--set test]``: loss and metrics of a trained model's best checkpoint."""
HELP = "evaluate a trained model's best checkpoint on a set (loss and the run's metrics)"


def configure(parser) -> None:
    from knowit.commands.common import add_arch, add_exp_dir

    parser.add_argument("model_name", help="a trained model under <exp_dir>/models")
    parser.add_argument("--set", dest="set_name", default="test", help="train, valid or test (default: test)")
    add_arch(parser)
    add_exp_dir(parser)


def run(ns) -> int:
    from knowit.api import KnowIt
    from knowit.commands.common import format_metrics

    metrics = KnowIt(ns.exp_dir).evaluate(ns.model_name, ns.set_name, arch=ns.arch)
    print(f"{ns.model_name} on the {ns.set_name} set:\n{format_metrics(metrics)}")
    return 0
