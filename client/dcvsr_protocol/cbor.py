"""The payload encoding: a small, canonical subset of CBOR (RFC 8949).

Chosen over JSON because it is byte-exact without a float printer: a C
client can produce the same bytes with a few dozen lines. The rules (also in
docs/protocol.md) are:

- integers in the shortest head (major types 0 and 1), -2**64 .. 2**64-1;
- byte strings (2) and UTF-8 text strings (3) with definite lengths;
- arrays (4) and maps (5) with definite lengths; map keys are text strings,
  unique, sorted by their encoded bytes (RFC 8949 4.2.1: shorter keys first);
- false (0xf4), true (0xf5), null (0xf6);
- floats always as 64-bit (0xfb + 8 bytes), finite only;
- no tags, no indefinite lengths, no other simple values, nesting at most 16.

The decoder refuses anything else, so every value has exactly one encoding.
"""

from __future__ import annotations

import math
import struct
from typing import Any

MAX_DEPTH = 16
# Byte strings at least this long are passed by reference by encode_parts (inline pixels).
_BIG = 1 << 16


class CBORError(ValueError):
    """The bytes are not canonical CBOR of the accepted subset, or a value cannot be encoded."""


def _head(major: int, arg: int) -> bytes:
    m = major << 5
    if arg < 24:
        return bytes((m | arg,))
    if arg < 1 << 8:
        return bytes((m | 24, arg))
    if arg < 1 << 16:
        return bytes((m | 25,)) + arg.to_bytes(2, "big")
    if arg < 1 << 32:
        return bytes((m | 26,)) + arg.to_bytes(4, "big")
    if arg < 1 << 64:
        return bytes((m | 27,)) + arg.to_bytes(8, "big")
    raise CBORError(f"integer or length {arg} does not fit 64 bits")


def _encode(value: Any, out: list, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise CBORError("nesting deeper than 16")
    if value is False:
        out.append(b"\xf4")
    elif value is True:
        out.append(b"\xf5")
    elif value is None:
        out.append(b"\xf6")
    elif isinstance(value, int):
        out.append(_head(0, value) if value >= 0 else _head(1, -1 - value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise CBORError("floats must be finite")
        out.append(b"\xfb" + struct.pack(">d", value))
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out.append(_head(3, len(raw)))
        out.append(raw)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = memoryview(value).cast("B")
        out.append(_head(2, raw.nbytes))
        out.append(raw if raw.nbytes >= _BIG else bytes(raw))
    elif isinstance(value, (list, tuple)):
        out.append(_head(4, len(value)))
        for item in value:
            _encode(item, out, depth + 1)
    elif isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise CBORError(f"map keys must be text, got {type(key).__name__}")
            raw = key.encode("utf-8")
            items.append((_head(3, len(raw)) + raw, item))
        items.sort(key=lambda kv: kv[0])
        out.append(_head(5, len(items)))
        for encoded_key, item in items:
            out.append(encoded_key)
            _encode(item, out, depth + 1)
    else:
        raise CBORError(f"cannot encode {type(value).__name__}")


def encode_parts(value: Any) -> list:
    """Encode as a list of buffers; large byte strings are referenced, not copied."""
    out: list = []
    _encode(value, out, 0)
    # Join runs of small pieces so a socket send is a few buffers, not hundreds.
    joined: list = []
    run: list = []
    for part in out:
        if isinstance(part, memoryview):
            if run:
                joined.append(b"".join(run))
                run = []
            joined.append(part)
        else:
            run.append(part)
    if run:
        joined.append(b"".join(run))
    return joined


def encode(value: Any) -> bytes:
    """Canonical encoding of value (dict, list, str, bytes, int, float, bool, None)."""
    return b"".join(bytes(p) if isinstance(p, memoryview) else p for p in encode_parts(value))


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> memoryview:
        end = self.pos + n
        if end > len(self.data):
            raise CBORError("truncated")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def head(self) -> tuple[int, int, int]:
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 31
        if info < 24:
            return major, info, initial
        if info > 27:
            raise CBORError(f"unsupported additional information {info} (indefinite or reserved)")
        size = 1 << (info - 24)
        arg = int.from_bytes(self.take(size), "big")
        if major != 7 and arg < (24 if size == 1 else 1 << (4 * size)):
            raise CBORError("integer or length not in its shortest form")
        return major, arg, initial


def _decode(r: _Reader, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise CBORError("nesting deeper than 16")
    major, arg, initial = r.head()
    if major == 0:
        return arg
    if major == 1:
        return -1 - arg
    if major == 2:
        return r.take(arg)
    if major == 3:
        try:
            return str(r.take(arg), "utf-8")
        except UnicodeDecodeError as e:
            raise CBORError("text string is not valid UTF-8") from e
    if major == 4:
        if arg > len(r.data) - r.pos:  # every item takes at least one byte: refuse before allocating
            raise CBORError("truncated")
        return [_decode(r, depth + 1) for _ in range(arg)]
    if major == 5:
        if 2 * arg > len(r.data) - r.pos:
            raise CBORError("truncated")
        result: dict[str, Any] = {}
        previous = None
        for _ in range(arg):
            start = r.pos
            kmajor, klen, _initial = r.head()
            if kmajor != 3:
                raise CBORError("map keys must be text strings")
            key_bytes = r.take(klen)
            encoded_key = bytes(r.data[start:r.pos])
            if previous is not None and encoded_key <= previous:
                raise CBORError("map keys not in canonical order, or repeated")
            previous = encoded_key
            try:
                key = str(key_bytes, "utf-8")
            except UnicodeDecodeError as e:
                raise CBORError("map key is not valid UTF-8") from e
            result[key] = _decode(r, depth + 1)
        return result
    if major == 6:
        raise CBORError("tags are not allowed")
    # major 7
    if initial == 0xF4:
        return False
    if initial == 0xF5:
        return True
    if initial == 0xF6:
        return None
    if initial == 0xFB:
        value = struct.unpack(">d", r.data[r.pos - 8:r.pos])[0]
        if not math.isfinite(value):
            raise CBORError("floats must be finite")
        return value
    raise CBORError(f"unsupported simple value or float width (initial byte 0x{initial:02x})")


def decode(data: bytes | bytearray | memoryview) -> Any:
    """Decode one canonical value that fills data exactly. Byte strings come back as memoryviews."""
    r = _Reader(memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data))
    value = _decode(r, 0)
    if r.pos != len(r.data):
        raise CBORError(f"{len(r.data) - r.pos} trailing bytes")
    return value
