"""The dcvsr frame-server protocol: framing, payload encoding, messages, pixel slots.

Pure data: no sockets, no processes. docs/protocol.md is the written form.
"""

from . import checks
from .codes import FATAL, Code
from .framing import (
    HEADER_SIZE,
    MAGIC,
    MAX_CONTROL_PAYLOAD,
    SUPPORTED_VERSIONS,
    VERSION,
    FramingError,
    Header,
)
from .messages import Kind, Message, MessageError, decode, decode_payload, encode, encode_parts
from .slot import PixelFormat, SlotError, SlotHeader

__all__ = [
    "FATAL",
    "HEADER_SIZE",
    "MAGIC",
    "MAX_CONTROL_PAYLOAD",
    "SUPPORTED_VERSIONS",
    "VERSION",
    "Code",
    "FramingError",
    "Header",
    "Kind",
    "Message",
    "MessageError",
    "PixelFormat",
    "SlotError",
    "SlotHeader",
    "checks",
    "decode",
    "decode_payload",
    "encode",
    "encode_parts",
]
