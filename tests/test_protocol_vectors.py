"""The byte-exact vectors in tests/protocol_vectors/ against the Python implementation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dcvsr_protocol import Code, Kind, Message, checks, decode, encode
from dcvsr_protocol.framing import MAX_CONTROL_PAYLOAD
from dcvsr_protocol.slot import SlotHeader

VECTORS = Path(__file__).parent / "protocol_vectors"
MESSAGE_VECTORS = sorted(p.stem for p in VECTORS.glob("*.bin")
                         if not p.stem.startswith("reject_") and p.stem != "slot_header")
REJECT_VECTORS = sorted(p.stem for p in VECTORS.glob("reject_*.bin"))


def from_json(value):
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return bytes.fromhex(value["$bytes"])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def same(a, b) -> bool:
    """Equal values of equal types (so 4.0 never matches 4); byte strings compare by content."""
    if isinstance(a, (bytes, bytearray, memoryview)) or isinstance(b, (bytes, bytearray, memoryview)):
        raw = (bytes, memoryview)
        return isinstance(a, raw) and isinstance(b, raw) and bytes(a) == bytes(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("name", MESSAGE_VECTORS)
def test_message_vector(name):
    data = (VECTORS / f"{name}.bin").read_bytes()
    expected = json.loads((VECTORS / f"{name}.json").read_text())
    msg = decode(data)
    assert msg.kind == Kind[expected["kind"]] and int(msg.kind) == expected["kind_code"]
    assert msg.request == expected["request"]
    assert data[4] == expected["version"] and int.from_bytes(data[6:8], "little") == expected["flags"]
    assert len(data) - 16 == expected["length"]
    payload = from_json(expected["payload"])
    assert same(msg.fields, payload)
    assert encode(Message(Kind[expected["kind"]], expected["request"], payload)) == data
    assert checks.check_message(data, MAX_CONTROL_PAYLOAD, from_client=int(msg.kind) < 0x80).kind == msg.kind


def test_every_kind_has_a_vector():
    kinds = {json.loads((VECTORS / f"{n}.json").read_text())["kind"] for n in MESSAGE_VECTORS}
    assert kinds == {k.name for k in Kind}


def test_slot_header_vector():
    data = (VECTORS / "slot_header.bin").read_bytes()
    expected = json.loads((VECTORS / "slot_header.json").read_text())
    assert len(data) == 128 and data[:4] == b"DVSL" and data[68:] == bytes(60)
    assert SlotHeader.unpack(data).__dict__ == expected
    assert SlotHeader(**expected).pack() == data


@pytest.mark.parametrize("name", REJECT_VECTORS)
def test_reject_vector(name):
    data = (VECTORS / f"{name}.bin").read_bytes()
    code = json.loads((VECTORS / f"{name}.json").read_text())["code"]
    if not code:
        checks.check_message(data, MAX_CONTROL_PAYLOAD)
        return
    if name == "reject_too_long":  # only the header is sent: the length alone condemns it
        with pytest.raises(checks.Violation) as err:
            checks.check_header(checks.read_header(data[:16]), MAX_CONTROL_PAYLOAD)
    else:
        with pytest.raises(checks.Violation) as err:
            checks.check_message(data, MAX_CONTROL_PAYLOAD)
    assert err.value.code == Code[code], str(err.value)


def test_vectors_are_current(tmp_path, monkeypatch):
    """make_vectors.py regenerates exactly the committed files (no silent protocol change)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS / "make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    module.main()
    for path in tmp_path.iterdir():
        assert path.read_bytes() == (VECTORS / path.name).read_bytes(), path.name
