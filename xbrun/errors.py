"""Errors a user can trigger: they carry one line that names the key and what is allowed."""


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class TileError(RuntimeError):
    """A tile was used in a way it does not support (wrong shape, a bias it lacks, ...)."""
