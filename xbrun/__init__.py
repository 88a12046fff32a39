"""xbrun: train neural networks on simulated analog crossbar hardware (``xbrun.train``,
``xbrun.compose``: the CLI's configs from Python; see :mod:`xbrun.api`)."""

from .api import compose, train
from .errors import ConfigError

__all__ = ["ConfigError", "compose", "train"]
