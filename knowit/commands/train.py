"""``python -m knowit train``: handled by knowit.cli.cmd_train (its arguments go to Hydra)."""
HELP = "train a model: python -m knowit train [data=...] [arch=...] [key=value ...] [-m for a sweep]"


def configure(parser) -> None:  # arguments are Hydra overrides, parsed by Hydra itself
    pass


def run(ns) -> int:  # pragma: no cover - cli.main routes "train" before argparse
    from knowit.cli import cmd_train

    return cmd_train([])
