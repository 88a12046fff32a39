"""xbrun: train neural networks on simulated analog crossbar hardware (``xbrun.train``,
``xbrun.compose``: the CLI's configs from Python, see :mod:`xbrun.api`; ``xbrun.load``: a
finished run's trained model, see :mod:`xbrun.evaluate`).

``load`` is imported on first use: it needs torch, which commands that train nothing
(``xbrun --help``, ``xbrun report``) would otherwise pay for at start-up."""

from .api import compose, train
from .errors import ConfigError

__all__ = ["ConfigError", "compose", "load", "train"]


def __getattr__(name: str):
    if name == "load":
        from .evaluate import load

        return load
    raise AttributeError(f"module 'xbrun' has no attribute {name!r}")
