"""Every error the library and the steps raise, in one place both import.

Each carries a message that names the bad value, key, file or table. Steps catch
:class:`JobFailed` and :class:`WarehouseError` to end a job with a one-line message and exit
code 1; :class:`ConfigError` ends it with exit code 2 before any work starts.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the key."""


class StorageError(OSError):
    """A storage operation failed; the message names the path."""


class WarehouseError(RuntimeError):
    """A run or table is missing or incomplete; the message names it."""


class JobFailed(RuntimeError):
    """A job ran but refused its result (a gate failed); the message says why."""


class InputError(JobFailed):
    """A raw input is missing or unusable as a whole; the message names it."""


class ContentError(ValueError):
    """Content inputs do not fit together; the message says what is wrong."""


class FactorError(ValueError):
    """Factor tables do not fit together (ranks differ, duplicate ids); the message says how."""


class NeighbourError(ValueError):
    """Invalid neighbour-search input; the message names the bad value."""


class EvaluationError(ValueError):
    """Invalid evaluation input; the message names the bad value."""


class BlendError(ValueError):
    """Invalid blend parameters or candidate table; the message names the bad value."""


class ModelError(ValueError):
    """A recommender was used wrongly (not fitted, a bad list length); the message says how."""
