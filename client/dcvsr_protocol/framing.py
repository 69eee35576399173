"""The fixed 16-byte header in front of every message (little-endian):

    offset size field
    0      4    magic      b"DCVS"
    4      1    version    protocol version of this message (1)
    5      1    kind       message kind (messages.Kind)
    6      2    flags      0 in version 1; receivers ignore them
    8      4    request    id of the request the message belongs to (0: none)
    12     4    length     payload bytes that follow
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"DCVS"
VERSION = 1
SUPPORTED_VERSIONS = (1,)
HEADER = struct.Struct("<4sBBHII")
HEADER_SIZE = HEADER.size  # 16
# Control payloads are small; inline pixel messages may be bigger (see the session's limit).
MAX_CONTROL_PAYLOAD = 1 << 20
MAX_REQUEST_ID = (1 << 32) - 1


class FramingError(ValueError):
    """The header cannot be trusted: the stream is out of step and must be closed."""


@dataclass(frozen=True)
class Header:
    kind: int
    request: int
    length: int
    version: int = VERSION
    flags: int = 0

    def pack(self) -> bytes:
        return HEADER.pack(MAGIC, self.version, self.kind, self.flags, self.request, self.length)


def unpack_header(data: bytes | memoryview) -> Header:
    """Parse a header; raises FramingError on a wrong magic. The version is checked by the caller."""
    magic, version, kind, flags, request, length = HEADER.unpack(data)
    if magic != MAGIC:
        raise FramingError(f"bad magic {bytes(magic)!r}")
    return Header(kind=kind, request=request, length=length, version=version, flags=flags)
