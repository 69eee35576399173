"""Errors a user can act on. The CLI prints their message and exits non-zero.

DCVSRError and SettingsError come from the client package, which the settings description lives in.
"""

from dcvsr_client.errors import DCVSRError, SettingsError

__all__ = ["DCVSRError", "InputError", "ModelError", "OutputError", "SettingsError"]


class ModelError(DCVSRError):
    """A model folder is missing, incomplete, corrupt or holds a refused file."""


class InputError(DCVSRError, ValueError):
    """Input frames or files cannot be used (empty, too small, non-finite, unreadable)."""


class OutputError(DCVSRError):
    """The output cannot be written where asked."""
