"""Errors a user can act on. The CLI prints their message and exits non-zero."""


class DCVSRError(Exception):
    """Base class: the message names the problem and, where it can, what to do."""


class SettingsError(DCVSRError, ValueError):
    """A setting is out of range or unknown."""


class ModelError(DCVSRError):
    """A model folder is missing, incomplete, corrupt or holds a refused file."""


class InputError(DCVSRError, ValueError):
    """Input frames or files cannot be used (empty, too small, non-finite, unreadable)."""


class OutputError(DCVSRError):
    """The output cannot be written where asked."""
