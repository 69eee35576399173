"""Writes the byte-exact protocol test vectors (run it only when the protocol changes on purpose).

For every message kind NAME: NAME.bin (the whole message: header and payload)
and NAME.json (its decoded form). Byte strings appear in JSON as
{"$bytes": "<hex>"}; numbers written with a decimal point are floats (CBOR
0xfb), the others integers. slot_header.bin/.json is one pixel-slot header.
reject_*.bin are messages a receiver must refuse; reject_*.json says with
which error code and why. tests/test_protocol_vectors.py checks them all.

    python tests/protocol_vectors/make_vectors.py
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "client")]

from dcvsr_protocol import Kind, Message, encode  # noqa: E402
from dcvsr_protocol.framing import HEADER  # noqa: E402
from dcvsr_protocol.slot import SlotHeader  # noqa: E402

TOKEN = "5f" * 32

MESSAGES: list[tuple[str, Message]] = [
    ("hello", Message(Kind.HELLO, 1, {"versions": [1], "token": TOKEN, "client": "dcvsr_client 0.1.0"})),
    ("welcome", Message(Kind.WELCOME, 1, {"version": 1, "engine": "dcvsr-engine 0.1.0 (renderer noop)",
                                          "pid": 4242, "caps": ["shm", "inline"], "max_payload": 1048576})),
    ("open", Message(Kind.OPEN, 2, {
        "clip": "sha256:1f2e3d/clip.mkv", "width": 960, "height": 540, "frames": 1440, "fps_num": 24000,
        "fps_den": 1001, "dtype": "f16", "channels": 3, "layout": "planar", "matrix": 1, "transfer": 1,
        "primaries": 1, "range": 0,
        "settings": {"scale": 4.0, "steps": 25, "seed": 0, "guidance": 0.5, "sap": True, "dssag": False,
                     "sap_gather": "previous", "bias": -3, "model": None},
        "cuts": [120, 600, 1000], "transport": "shm", "out_slots": 3})),
    ("opened", Message(Kind.OPENED, 2, {
        "session": 7, "out_width": 3840, "out_height": 2160, "transport": "shm", "segment": "dcvsr_4242_1",
        "segment_size": 159498240, "slots": [0, 49766400, 99532800, 149299200, 152412160, 155525120],
        "out_slots": 3})),
    ("render", Message(Kind.RENDER, 3, {"session": 7, "start": 100, "stop": 128})),
    ("need_source", Message(Kind.NEED_SOURCE, 3, {"session": 7, "frame": 98, "seq": 1, "slot": 3})),
    ("source_ready", Message(Kind.SOURCE_READY, 3, {"session": 7, "frame": 98, "seq": 1, "slot": 3})),
    ("source_ready_inline", Message(Kind.SOURCE_READY, 3, {"session": 7, "frame": 98, "seq": 1,
                                                           "data": bytes(range(24))})),
    ("frame_ready", Message(Kind.FRAME_READY, 3, {"session": 7, "frame": 100, "seq": 9, "slot": 0})),
    ("frame_ready_inline", Message(Kind.FRAME_READY, 3, {"session": 7, "frame": 100, "seq": 9,
                                                         "data": b"\x00\x3c" * 12})),
    ("release", Message(Kind.RELEASE, 3, {"session": 7, "slot": 0, "seq": 9})),
    ("progress", Message(Kind.PROGRESS, 3, {"session": 7, "done": 14, "total": 28})),
    ("done", Message(Kind.DONE, 3, {"session": 7, "frames": 28})),
    ("cancel", Message(Kind.CANCEL, 3, {"session": 7})),
    ("plan", Message(Kind.PLAN, 4, {"session": 7, "start": 100, "stop": 128})),
    ("plan_reply", Message(Kind.PLAN_REPLY, 4, {"session": 7, "start": 98, "stop": 130})),
    ("close", Message(Kind.CLOSE, 5, {"session": 7})),
    ("closed", Message(Kind.CLOSED, 5, {"session": 7})),
    ("status", Message(Kind.STATUS, 6)),
    ("status_reply", Message(Kind.STATUS_REPLY, 6, {
        "pid": 4242, "version": "0.1.0", "uptime": 12.5, "connections": 2, "sessions": 3, "renderer": "noop",
        "runtime_dir": "/run/user/1000/dcvsr"})),
    ("stop", Message(Kind.STOP, 7)),
    ("stopping", Message(Kind.STOPPING, 7)),
    ("error", Message(Kind.ERROR, 3, {"code": 301, "message": "the client did not supply source frame 98 "
                                                           "within 120 s", "session": 7})),
    ("error_connection", Message(Kind.ERROR, 0, {"code": 100, "message": "bad magic b'GET '"})),
]


def header(kind: int, length: int, request: int = 1, magic: bytes = b"DCVS", version: int = 1) -> bytes:
    return HEADER.pack(magic, version, kind, 0, request, length)


def with_payload(kind: int, payload: bytes, **kw: object) -> bytes:
    return header(kind, len(payload), **kw) + payload


# Messages a receiver refuses: (name, bytes, code name, why). Payload bytes are written out by hand.
_RENDER_OK = bytes.fromhex("a3") + b"\x64stop\x02" + b"\x65start\x01" + b"\x67session\x07"
REJECTS: list[tuple[str, bytes, str, str]] = [
    ("bad_magic", b"GET / HTTP/1.1\r\n\r\n", "BAD_FRAMING", "magic is not DCVS: the connection is closed"),
    ("bad_version", with_payload(0x09, b"\xa0", version=2), "BAD_VERSION", "header version 2"),
    ("too_long", header(0x09, (1 << 20) + 1), "BAD_FRAMING", "payload length over the 1 MiB control limit"),
    ("unknown_kind", with_payload(0x42, b"\xa0"), "UNEXPECTED", "kind 0x42 does not exist"),
    ("engine_kind", with_payload(0x81, b"\xa0"), "UNEXPECTED", "a client may not send WELCOME"),
    ("render_ok", with_payload(0x03, _RENDER_OK), "", "accepted: the canonical form of the ones below"),
    ("unsorted_keys", with_payload(0x03, bytes.fromhex("a3") + b"\x65start\x01\x64stop\x02\x67session\x07"),
     "BAD_MESSAGE", "map keys must be sorted shorter-first, then bytewise"),
    ("duplicate_key", with_payload(0x03, bytes.fromhex("a4") + b"\x64stop\x02\x64stop\x02\x65start\x01"
                                   b"\x67session\x07"), "BAD_MESSAGE", "a key appears twice"),
    ("long_int", with_payload(0x03, bytes.fromhex("a3") + b"\x64stop\x18\x02\x65start\x01\x67session\x07"),
     "BAD_MESSAGE", "2 encoded in two bytes (0x18 0x02) instead of one"),
    ("indefinite_map", with_payload(0x03, bytes.fromhex("bf") + b"\x64stop\x02\x65start\x01\x67session\x07"
                                    + b"\xff"), "BAD_MESSAGE", "indefinite-length map"),
    ("float32", with_payload(0x03, bytes.fromhex("a3") + b"\x64stop\xfa" + struct.pack(">f", 2.0)
                             + b"\x65start\x01\x67session\x07"), "BAD_MESSAGE",
     "float32 (and a float where a uint is required)"),
    ("nan", with_payload(0x0A, b"\xa1\x61x\xfb" + struct.pack(">d", float("nan"))), "BAD_MESSAGE",
     "floats must be finite"),
    ("tag", with_payload(0x03, bytes.fromhex("a3") + b"\x64stop\xc1\x02\x65start\x01\x67session\x07"),
     "BAD_MESSAGE", "tags are not allowed"),
    ("trailing", with_payload(0x03, _RENDER_OK + b"\x00"), "BAD_MESSAGE", "a byte after the map"),
    ("truncated_payload", with_payload(0x03, _RENDER_OK[:-1]), "BAD_MESSAGE", "the map ends early"),
    ("missing_field", with_payload(0x03, bytes.fromhex("a2") + b"\x64stop\x02\x65start\x01"), "BAD_MESSAGE",
     "RENDER without session"),
    ("negative_uint", with_payload(0x03, bytes.fromhex("a3") + b"\x64stop\x21\x65start\x01\x67session\x07"),
     "BAD_MESSAGE", "stop = -2 where a uint is required"),
    ("not_a_map", with_payload(0x09, b"\x80"), "BAD_MESSAGE", "payload is an array"),
    ("bad_utf8", with_payload(0x07, bytes.fromhex("a1") + b"\x67sess\xffon\x07"), "BAD_MESSAGE",
     "key is not UTF-8"),
]


def to_json(value: object) -> object:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def slot_header_vector() -> tuple[bytes, dict]:
    h = SlotHeader(generation=5, dtype=3, layout=1, channels=3, sequence=9, frame=100, width=3840,
                   height=2160,
                   row_stride=7680, data_offset=4096, plane_stride=16588800, capacity=49766400, matrix=1,
                   transfer=1, primaries=1, range=1)
    return h.pack(), dict(h.__dict__)


def main() -> None:
    for name, msg in MESSAGES:
        data = encode(msg)
        (HERE / f"{name}.bin").write_bytes(data)
        decoded = {"kind": msg.kind.name, "kind_code": int(msg.kind), "version": 1, "flags": 0,
                   "request": msg.request, "length": len(data) - 16, "payload": to_json(msg.fields)}
        (HERE / f"{name}.json").write_text(json.dumps(decoded, indent=1) + "\n")
    data, fields = slot_header_vector()
    (HERE / "slot_header.bin").write_bytes(data)
    (HERE / "slot_header.json").write_text(json.dumps(fields, indent=1) + "\n")
    for name, data, code, why in REJECTS:
        (HERE / f"reject_{name}.bin").write_bytes(data)
        (HERE / f"reject_{name}.json").write_text(json.dumps({"code": code, "why": why}, indent=1) + "\n")


if __name__ == "__main__":
    main()
