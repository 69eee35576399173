"""Error codes carried by ERROR messages. Hundreds group them: 1xx the connection, 2xx a request's
content, 3xx a render, 4xx the engine's state, 5xx bugs."""

from __future__ import annotations

import enum


class Code(enum.IntEnum):
    BAD_FRAMING = 100  # header unreadable or payload too long: the connection is closed
    BAD_MESSAGE = 101  # payload is not canonical CBOR or lacks / mistypes a field
    BAD_VERSION = 102  # no protocol version in common: the connection is closed
    UNEXPECTED = 103  # unknown kind, or a kind not valid in this state (e.g. before HELLO)
    UNAUTHORIZED = 104  # wrong token or other user: the connection is closed
    UNKNOWN_SESSION = 200
    BAD_CLIP = 201  # clip description out of range (size, frames, format, cuts)
    BAD_SETTINGS = 202  # the renderer refused the settings
    BAD_RANGE = 203  # requested frames outside the clip, or empty
    BAD_SLOT = 204  # slot number, sequence or slot header does not match
    LIMIT = 205  # too many sessions, connections or bytes
    CANCELLED = 300
    SOURCE_FAILED = 301  # the client did not deliver a source frame (cancelled it, or too late)
    RENDER_FAILED = 302  # the renderer raised
    SHUTTING_DOWN = 400
    NOT_READY = 401  # the renderer could not be started
    INTERNAL = 500


# Errors after which the engine closes the connection: the byte stream can no longer be trusted.
FATAL = frozenset({Code.BAD_FRAMING, Code.BAD_VERSION, Code.UNAUTHORIZED})
