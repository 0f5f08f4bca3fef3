"""``python -m knowit datasets [NAME]``: what the experiment directory holds."""
HELP = "list the datasets in the experiment directory (and the built-in ones), or describe one"


def configure(parser) -> None:
    from knowit.cli import add_exp_dir

    parser.add_argument("name", nargs="?", default=None, help="describe this dataset (a built-in one is generated first)")
    add_exp_dir(parser)


def print_summary(summary: dict) -> None:
    """One ``key: value`` line per entry; long lists are shortened."""
    for key, value in summary.items():
        if key == "slices" or value in (None, "", [], {}):
            continue
        if isinstance(value, list) and len(value) > 12:
            value = f"{value[:12]} ... ({len(value)} in all)"
        print(f"  {key}: {value}")


def run(ns) -> int:
    from knowit.api import KnowIt

    ki = KnowIt(ns.exp_dir)
    if ns.name:
        print(f"dataset {ns.name!r} in {ki.exp_dir}:")
        print_summary(ki.summarize_dataset(ns.name))
        return 0
    print(f"datasets in {ki.exp_dir}:")
    for name in ki.available_datasets():
        print(f"  {name}")
    return 0
