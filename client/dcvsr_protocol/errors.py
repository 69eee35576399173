"""Errors, in words a user can act on: one family shared by the engine, the client and the plugins.

DCVSRError and its children are what the engine's CLI prints and exits non-zero on; DCVSRClientError
and its children are what the client raises on its side of the socket.
"""

from __future__ import annotations


class DCVSRError(Exception):
    """Base class of errors a user can act on, shared by the client, the plugins and the engine."""


class SettingsError(DCVSRError, ValueError):
    """A setting is out of range or unknown."""


class ModelError(DCVSRError):
    """A model folder is missing, incomplete, corrupt or holds a refused file."""


class InputError(DCVSRError, ValueError):
    """Input frames or files cannot be used (empty, too small, non-finite, unreadable)."""


class OutputError(DCVSRError):
    """The output cannot be written where asked."""


class ClusterError(DCVSRError):
    """A render cluster (`dcvsr upscale --cluster`) is missing, unreachable, unlike itself, or lost a shot."""


class DCVSRClientError(Exception):
    """Base class of the client's errors."""


class ProtocolError(DCVSRClientError):
    """The engine sent something this client does not understand (a bug or a version mismatch)."""


class EngineError(DCVSRClientError):
    """The engine refused or failed a request; code is a protocol.Code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class EngineGone(DCVSRClientError):
    """The connection to the engine was lost (the engine died or stopped)."""


class EngineStartError(DCVSRClientError):
    """No engine was running and none could be started."""
