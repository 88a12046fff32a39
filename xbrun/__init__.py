"""xbrun: train neural networks on simulated analog crossbar hardware (``xbrun.train``,
``xbrun.compose``: the CLI's configs from Python, see :mod:`xbrun.api`; ``xbrun.load``: a
finished run's trained model, see :mod:`xbrun.evaluate`)."""

from .api import compose, train
from .errors import ConfigError
from .evaluate import load

__all__ = ["ConfigError", "compose", "load", "train"]
