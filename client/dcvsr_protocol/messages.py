"""Message kinds, their payload fields, and encoding a whole message to bytes and back.

Every payload is a canonical CBOR map (cbor.py). The schema below is the
reference for docs/protocol.md: a field is required unless marked optional;
receivers ignore keys they do not know (so later versions can add some).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from . import cbor
from .framing import HEADER_SIZE, MAX_REQUEST_ID, VERSION, Header

UINT_MAX = (1 << 63) - 1  # uints fit a C int64_t / uint64_t either way
MAX_TEXT = 4096


class Kind(enum.IntEnum):
    # client -> engine
    HELLO = 0x01
    OPEN = 0x02
    RENDER = 0x03
    SOURCE_READY = 0x04
    RELEASE = 0x05
    CANCEL = 0x06
    CLOSE = 0x07
    PLAN = 0x08
    STATUS = 0x09
    STOP = 0x0A
    # engine -> client
    WELCOME = 0x81
    OPENED = 0x82
    FRAME_READY = 0x83
    NEED_SOURCE = 0x84
    PROGRESS = 0x85
    DONE = 0x86
    CLOSED = 0x87
    PLAN_REPLY = 0x88
    STATUS_REPLY = 0x89
    STOPPING = 0x8A
    ERROR = 0xFF


# Field types: u uint, s text, b bytes, n number (int or float), lu list of uint, ls list of text,
# m map of text -> scalar (bool, int, float, text, null).
_OPT = "?"
SCHEMA: dict[Kind, dict[str, str]] = {
    Kind.HELLO: {"versions": "lu", "token": "s", "client": "s"},
    Kind.OPEN: {
        "clip": "s", "width": "u", "height": "u", "frames": "u", "fps_num": "u", "fps_den": "u",
        "dtype": "s", "channels": "u", "layout": "s",
        "matrix": "u", "transfer": "u", "primaries": "u", "range": "u",
        "settings": "m", "cuts": "lu", "transport": "s", "out_slots": "u?",
    },
    Kind.RENDER: {"session": "u", "start": "u", "stop": "u"},
    Kind.SOURCE_READY: {"session": "u", "frame": "u", "seq": "u", "slot": "u?", "data": "b?"},
    Kind.RELEASE: {"session": "u", "slot": "u", "seq": "u"},
    Kind.CANCEL: {"session": "u"},
    Kind.CLOSE: {"session": "u"},
    Kind.PLAN: {"session": "u", "start": "u", "stop": "u"},
    Kind.STATUS: {},
    Kind.STOP: {},
    Kind.WELCOME: {"version": "u", "engine": "s", "pid": "u", "caps": "ls", "max_payload": "u"},
    Kind.OPENED: {
        "session": "u", "out_width": "u", "out_height": "u", "transport": "s",
        "segment": "s", "segment_size": "u", "slots": "lu", "out_slots": "u",
    },
    Kind.FRAME_READY: {"session": "u", "frame": "u", "seq": "u", "slot": "u?", "data": "b?"},
    Kind.NEED_SOURCE: {"session": "u", "frame": "u", "seq": "u", "slot": "u?"},
    Kind.PROGRESS: {"session": "u", "done": "u", "total": "u"},
    Kind.DONE: {"session": "u", "frames": "u"},
    Kind.CLOSED: {"session": "u"},
    Kind.PLAN_REPLY: {"session": "u", "start": "u", "stop": "u"},
    Kind.STATUS_REPLY: {
        "pid": "u", "version": "s", "uptime": "n", "connections": "u", "sessions": "u",
        "renderer": "s", "runtime_dir": "s", "stats": "m?",
    },
    Kind.STOPPING: {},
    Kind.ERROR: {"code": "u", "message": "s", "session": "u?"},
}


class MessageError(ValueError):
    """A payload that decodes but does not fit its kind's schema (or an unknown kind)."""


@dataclass
class Message:
    kind: Kind
    request: int = 0
    fields: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


def _is_uint(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= UINT_MAX


def _check_value(kind: Kind, name: str, typ: str, v: Any) -> None:
    ok: bool
    if typ == "u":
        ok = _is_uint(v)
    elif typ == "s":
        ok = isinstance(v, str) and len(v) <= MAX_TEXT
    elif typ == "b":
        ok = isinstance(v, (bytes, bytearray, memoryview))
    elif typ == "n":
        ok = (isinstance(v, (int, float)) and not isinstance(v, bool))
    elif typ == "lu":
        ok = isinstance(v, (list, tuple)) and all(_is_uint(x) for x in v)
    elif typ == "ls":
        ok = isinstance(v, (list, tuple)) and all(isinstance(x, str) and len(x) <= MAX_TEXT for x in v)
    elif typ == "m":
        scalar = (bool, int, float, str)
        ok = isinstance(v, dict) and all(
            isinstance(k, str) and (x is None or isinstance(x, scalar)) for k, x in v.items())
    else:  # pragma: no cover - schema typo
        raise AssertionError(typ)
    if not ok:
        raise MessageError(f"{kind.name}: field {name!r} has a wrong type or is out of range")


def validate(kind: Kind, fields: dict[str, Any]) -> dict[str, Any]:
    """Check fields against the schema; returns only the known fields."""
    out: dict[str, Any] = {}
    for name, spec in SCHEMA[kind].items():
        optional = spec.endswith(_OPT)
        typ = spec.rstrip(_OPT)
        if name not in fields or (fields[name] is None and optional):
            if not optional:
                raise MessageError(f"{kind.name}: missing field {name!r}")
            continue
        _check_value(kind, name, typ, fields[name])
        out[name] = fields[name]
    return out


def kind_of(number: int) -> Kind:
    try:
        return Kind(number)
    except ValueError:
        raise MessageError(f"unknown message kind 0x{number:02x}") from None


def encode_parts(msg: Message) -> list:
    """Header and payload as buffers for one sendmsg; large byte strings are not copied."""
    if not 0 <= msg.request <= MAX_REQUEST_ID:
        raise MessageError("request id must fit 32 bits")
    payload = cbor.encode_parts(validate(msg.kind, msg.fields))
    length = sum(memoryview(p).nbytes for p in payload)
    header = Header(kind=int(msg.kind), request=msg.request, length=length, version=VERSION).pack()
    if payload and not isinstance(payload[0], memoryview):
        return [header + payload[0], *payload[1:]]
    return [header, *payload]


def encode(msg: Message) -> bytes:
    """The whole message: header, then payload."""
    return b"".join(bytes(p) if isinstance(p, memoryview) else p for p in encode_parts(msg))


def decode_payload(header: Header, payload: bytes | memoryview) -> Message:
    """Decode and validate one payload. Raises cbor.CBORError or MessageError."""
    kind = kind_of(header.kind)
    value = cbor.decode(payload)
    if not isinstance(value, dict):
        raise MessageError(f"{kind.name}: payload must be a map")
    return Message(kind=kind, request=header.request, fields=validate(kind, value))


def decode(data: bytes | memoryview) -> Message:
    """Decode one complete message (header and payload, nothing after)."""
    from .framing import FramingError, unpack_header

    if len(data) < HEADER_SIZE:
        raise FramingError("shorter than a header")
    header = unpack_header(memoryview(data)[:HEADER_SIZE])
    if header.version != VERSION:
        raise FramingError(f"unsupported version {header.version}")
    if header.length != len(data) - HEADER_SIZE:
        raise FramingError("length does not match")
    return decode_payload(header, memoryview(data)[HEADER_SIZE:])
