"""``python -m knowit archs``: the shipped architectures."""
HELP = "list the available architectures"


def configure(parser) -> None:
    pass


def run(ns) -> int:
    from knowit.registry import available_archs

    for name in available_archs():
        print(name)
    return 0
