"""dcvsr_protocol: the vocabulary the engine and every host share (numpy only, no torch).

The package itself is the wire protocol, pure data: framing, payload encoding (cbor), messages,
error codes, pixel slots (docs/protocol.md is the written form). Beside it:

    transport/   moving messages over a stream socket and pixels through shared memory
    settings     the one description of the sampling settings (every front end's parameters)
    errors       the errors a user can act on
    paths        the private per-user runtime directory (socket, token, lock files)
    colour       ColourTags, a clip's four H.273 colour codes

dcvsr_client (the host-side client) and dcvsr_engine (the engine) both stand on it;
docs/architecture.md draws the layers.
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
