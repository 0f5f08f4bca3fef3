"""knowit: config-driven deep-learning experiments on sequences.

``from knowit import KnowIt`` is the Python door; ``python -m knowit`` the command-line one.
Heavy libraries (torch, Lightning) load only when a run needs them, so ``--help`` and config
errors stay fast.
"""
from knowit.errors import KnowItConfigError, KnowItDataError, KnowItError, KnowItRunError

__version__ = "0.1.0"
__all__ = ["KnowIt", "KnowItError", "KnowItConfigError", "KnowItDataError", "KnowItRunError"]


def __getattr__(name: str):
    if name == "KnowIt":
        from knowit.api import KnowIt

        return KnowIt
    raise AttributeError(f"module 'knowit' has no attribute {name!r}")
