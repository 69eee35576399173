"""How a receiver judges an incoming message, as pure functions (the engine's reader uses them).

check_header runs before the payload is read (its length decides whether to
read it at all); check_payload after. Each raises Violation with the code of
the ERROR reply; codes in codes.FATAL close the connection.
"""

from __future__ import annotations

from .cbor import CBORError
from .codes import Code
from .framing import HEADER_SIZE, SUPPORTED_VERSIONS, FramingError, Header, unpack_header
from .messages import Kind, Message, MessageError, decode_payload

CLIENT_KINDS = frozenset(k for k in Kind if k < 0x80)
ENGINE_KINDS = frozenset(k for k in Kind if k >= 0x80)


class Violation(ValueError):
    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code


def read_header(data: bytes | memoryview) -> Header:
    try:
        return unpack_header(data)
    except FramingError as e:
        raise Violation(Code.BAD_FRAMING, str(e)) from None


def check_header(header: Header, max_payload: int) -> None:
    """Framing checks: the length must be within the limit, the version supported."""
    if header.length > max_payload:
        raise Violation(Code.BAD_FRAMING,
                        f"payload of {header.length} bytes exceeds the limit of {max_payload}")
    if header.version not in SUPPORTED_VERSIONS:
        raise Violation(Code.BAD_VERSION, f"protocol version {header.version} is not supported "
                                          f"(supported: {list(SUPPORTED_VERSIONS)})")


def check_payload(header: Header, payload: bytes | memoryview, from_client: bool = True) -> Message:
    """The message, if its kind may come from this side and its payload fits the kind's schema."""
    allowed = CLIENT_KINDS if from_client else ENGINE_KINDS
    if header.kind not in allowed:
        side = "a client" if from_client else "the engine"
        raise Violation(Code.UNEXPECTED, f"0x{header.kind:02x} is not a message {side} sends")
    try:
        return decode_payload(header, payload)
    except (CBORError, MessageError) as e:
        raise Violation(Code.BAD_MESSAGE, str(e)) from None


def check_message(data: bytes | memoryview, max_payload: int, from_client: bool = True) -> Message:
    """All checks on one complete message held in memory (for tests and other implementations)."""
    if len(data) < HEADER_SIZE:
        raise Violation(Code.BAD_FRAMING, "shorter than a header")
    header = read_header(memoryview(data)[:HEADER_SIZE])
    check_header(header, max_payload)
    payload = memoryview(data)[HEADER_SIZE:]
    if len(payload) != header.length:
        raise Violation(Code.BAD_FRAMING, "payload length differs from the header's")
    return check_payload(header, payload, from_client)
