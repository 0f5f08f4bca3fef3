"""``python -m knowit datasets``: what the experiment directory holds."""
HELP = "list the datasets in the experiment directory (and the built-in ones)"


def configure(parser) -> None:
    from knowit.cli import add_exp_dir

    add_exp_dir(parser)


def run(ns) -> int:
    from knowit.api import KnowIt

    ki = KnowIt(ns.exp_dir)
    print(f"datasets in {ki.exp_dir}:")
    for name in ki.available_datasets():
        print(f"  {name}")
    return 0
