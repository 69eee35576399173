"""The canonical CBOR subset: shortest forms, key order, refusals, round trips."""

from __future__ import annotations

import math
import random
import struct

import pytest
from dcvsr_protocol import cbor


@pytest.mark.parametrize(("value", "hexbytes"), [
    (0, "00"), (23, "17"), (24, "1818"), (255, "18ff"), (256, "190100"), (65535, "19ffff"),
    (65536, "1a00010000"), (2**32 - 1, "1affffffff"), (2**32, "1b0000000100000000"),
    (2**64 - 1, "1bffffffffffffffff"), (-1, "20"), (-24, "37"), (-25, "3818"),
    (-(2**64), "3bffffffffffffffff"),
    (False, "f4"), (True, "f5"), (None, "f6"), (1.5, "fb3ff8000000000000"), (0.0, "fb0000000000000000"),
    ("", "60"), ("é", "62c3a9"), (b"\x01\x02", "420102"), ([], "80"), ([1, [2]], "82018102"),
    ({"b": 1, "aa": 2, "a": 3}, "a3616103616201626161" + "02"),
])
def test_known_encodings(value, hexbytes):
    assert cbor.encode(value).hex() == hexbytes
    decoded = cbor.decode(bytes.fromhex(hexbytes))
    assert (bytes(decoded) if isinstance(decoded, memoryview) else decoded) == value


@pytest.mark.parametrize("value", [2**64, -(2**64) - 1, float("nan"), float("inf"), {1: 2}, object(),
                                   {"a": {1}}])
def test_unencodable(value):
    with pytest.raises(cbor.CBORError):
        cbor.encode(value)


@pytest.mark.parametrize("hexbytes", [
    "", "18", "1817", "190017", "1a0000ffff", "1b00000000ffffffff", "5f", "9f", "bf", "ff", "c100", "f7",
    "f8ff",
    "f93c00", "fa3f800000", "fb7ff8000000000000", "fb7ff0000000000000", "a2616101616101", "a2616201616101",
    "a101", "6161ff", "61ff", "0000", "8201", "a161610100",
])
def test_refused(hexbytes):
    with pytest.raises(cbor.CBORError):
        cbor.decode(bytes.fromhex(hexbytes))


def test_depth_limit():
    deep = b"\x81" * 17 + b"\x00"
    with pytest.raises(cbor.CBORError):
        cbor.decode(deep)
    assert cbor.decode(b"\x81" * 16 + b"\x00") is not None


def test_huge_declared_length_is_refused_without_allocating():
    with pytest.raises(cbor.CBORError):
        cbor.decode(b"\x9b" + struct.pack(">Q", 2**63))
    with pytest.raises(cbor.CBORError):
        cbor.decode(b"\x5b" + struct.pack(">Q", 2**63))


def _random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice([0, 1, 23, 24, 255, 256, 65535, 65536, 2**32, 2**64 - 1, -1, -25, -(2**64)]) + 0
    if kind == 1:
        return rng.randint(-(2**63), 2**63)
    if kind == 2:
        value = rng.uniform(-1e6, 1e6)
        return value if math.isfinite(value) else 0.0
    if kind == 3:
        return "".join(chr(rng.choice([0x41, 0xE9, 0x4E2D, 0x1F600])) for _ in range(rng.randrange(5)))
    if kind == 4:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(6)))
    if kind == 5:
        return rng.choice([True, False, None])
    if kind in (6, 7):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    size = rng.randrange(4)
    return {"k" * rng.randrange(1, 4) + str(i): _random_value(rng, depth + 1) for i in range(size)}


def _plain(value):
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def test_random_round_trips_are_canonical():
    rng = random.Random(1)
    for _ in range(500):
        value = _random_value(rng)
        data = cbor.encode(value)
        back = _plain(cbor.decode(data))
        assert back == value
        assert cbor.encode(back) == data


def test_random_bytes_never_crash():
    rng = random.Random(2)
    for _ in range(3000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 24)))
        try:
            cbor.decode(data)
        except cbor.CBORError:
            pass
