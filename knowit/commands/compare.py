"""``python -m knowit compare M1 M2 [...] [--set test] [--loss squared]``: leaderboard and paired tests."""
HELP = "compare trained models on the same points: leaderboard, skill over naive baselines, paired tests (Holm)"


def configure(parser) -> None:
    from knowit.commands.common import add_arch, add_exp_dir

    parser.add_argument("model_names", nargs="+", help="two or more trained models under <exp_dir>/models (m or m/rep-0)")
    parser.add_argument("--set", dest="set_name", default="test", help="train, valid or test (default: test)")
    parser.add_argument("--loss", default="squared", help="regression loss of the Diebold-Mariano test: squared or absolute")
    parser.add_argument("--name", default=None, help="folder under <exp_dir>/comparisons (default: from the model names)")
    add_arch(parser)
    add_exp_dir(parser)


def run(ns) -> int:
    from knowit.api import KnowIt

    print(KnowIt(ns.exp_dir).compare(ns.model_names, ns.set_name, loss=ns.loss, name=ns.name, arch=ns.arch).format())
    return 0
