"""``python -m knowit datasets [NAME]``: what the experiment directory holds."""
HELP = "list the datasets in the experiment directory (and the built-in ones), or describe one"


def configure(parser) -> None:
    from knowit.commands.common import add_exp_dir

    parser.add_argument("name", nargs="?", default=None, help="describe this dataset (a built-in one is generated first)")
    add_exp_dir(parser)


def run(ns) -> int:
    from knowit.api import KnowIt
    from knowit.commands.common import print_summary

    ki = KnowIt(ns.exp_dir)
    if ns.name:
        print(f"dataset {ns.name!r} in {ki.exp_dir}:")
        print_summary(ki.summarize_dataset(ns.name))
        return 0
    print(f"datasets in {ki.exp_dir}:")
    for name in ki.available_datasets():
        print(f"  {name}")
    return 0
