"""Shared memory the engine can trust: a client that truncates its segment, names squatted in advance."""

from __future__ import annotations

import os

import numpy as np
import pytest
from dcvsr_protocol import Code, Kind, Message, PixelFormat, checks, encode
from dcvsr_protocol.colour import ColourTags
from dcvsr_protocol.transport import shm

from dcvsr_engine.server.arena import Arena
from tests.engine_process import EngineProcess
from tests.test_server_fuzz import _read_one, connect, hello, token

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="truncates via /dev/shm")]

W, H = 16, 12
FMT = PixelFormat(W, H, "u8", 3, "interleaved")
NOOP_SETTINGS = {"scale": 2, "radius": 1}


def truncate(name: str, size: int = 0) -> None:
    fd = os.open(f"/dev/shm/{name}", os.O_RDWR)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def test_an_arena_refuses_a_truncated_segment_instead_of_faulting():
    arena = Arena(lambda: shm.segment_name(os.getpid()), FMT.scaled(2 * W, 2 * H), FMT, 2, 2, ColourTags())
    try:
        frame = np.full((2 * H, 2 * W, 3), 7, np.uint8)
        arena.write(0, frame, 1, 0)
        assert arena.header(0).sequence == 1
        truncate(arena.name, arena.offsets[1] + 100)  # inside the second output slot
        header, pixels = arena.read(0)
        assert header.generation == 1 and (pixels == 7).all()
        for attempt in (lambda: arena.read(1), lambda: arena.header(3), lambda: arena.write(1, frame, 2, 1)):
            with pytest.raises(shm.SegmentResized, match="truncated"):
                attempt()
    finally:
        arena.destroy()
    assert not os.path.exists(f"/dev/shm/{arena.name}")


def test_segment_names_are_unpredictable_and_taken_names_are_skipped():
    pid = os.getpid()
    names = {shm.segment_name(pid) for _ in range(100)}
    assert len(names) == 100 and all(len(n) <= 30 and shm.owner_pid(n) == pid for n in names)
    squatted = shm.SharedMemory.create(lambda: shm.segment_name(pid), 4096)  # another user's file, say
    offered = iter([squatted.name, squatted.name, shm.segment_name(pid)])
    try:
        fresh = shm.SharedMemory.create(lambda: next(offered), 8192)
        assert fresh.name != squatted.name and os.fstat(fresh._fd).st_size == 8192
        assert os.path.getsize(f"/dev/shm/{squatted.name}") == 4096  # left alone
        fresh.unlink()
        fresh.close()
    finally:
        squatted.unlink()
        squatted.close()


@pytest.fixture(scope="module")
def engine():
    with EngineProcess() as e:
        yield e


def _open(sock, rid: int) -> Message:
    fields = {"clip": "t", "width": W, "height": H, "frames": 4, "fps_num": 24, "fps_den": 1, "dtype": "u8",
              "channels": 3, "layout": "interleaved", "matrix": 1, "transfer": 1, "primaries": 1, "range": 1,
              "settings": NOOP_SETTINGS, "cuts": [], "transport": "shm"}
    sock.sendall(encode(Message(Kind.OPEN, rid, fields)))
    return _reply(sock)


def _reply(sock) -> Message:
    header, payload = _read_one(sock)
    return checks.check_payload(header, memoryview(payload), from_client=False)


def test_a_client_that_truncates_its_segment_fails_only_its_own_render(engine):
    s = connect(engine)
    hello(s, token(engine))
    opened = _open(s, 2)
    assert opened.kind == Kind.OPENED
    truncate(opened["segment"])
    s.sendall(encode(Message(Kind.RENDER, 3, {"session": opened["session"], "start": 0, "stop": 1})))
    need = _reply(s)
    assert need.kind == Kind.NEED_SOURCE
    s.sendall(encode(Message(Kind.SOURCE_READY, 3, {"session": opened["session"], "frame": need["frame"],
                                                    "seq": need["seq"], "slot": need["slot"]})))
    s.sendall(encode(Message(Kind.STATUS, 4)))
    errors, status = [], False
    while not status or len(errors) < 2:  # the connection still serves STATUS meanwhile
        reply = _reply(s)
        status = status or reply.kind == Kind.STATUS_REPLY
        if reply.kind == Kind.ERROR:
            errors.append(reply)
    # the SOURCE_READY and the render both fail with BAD_SLOT, naming the truncation
    assert [m["code"] for m in errors] == [Code.BAD_SLOT] * 2
    assert "truncated" in errors[-1]["message"]
    s.close()
    assert engine.proc.poll() is None
    with engine.connect() as c, c.open("after", W, H, 2, dtype="u8", settings=NOOP_SETTINGS) as ses:
        frame = np.zeros((H, W, 3), np.uint8)
        assert len(dict(ses.render(0, 2, source=lambda i: frame))) == 2


def test_names_squatted_in_advance_do_not_block_opens(engine):
    # The names an engine used to hand out in order (dcvsr_<pid>_1, _2, ...), created first by "someone".
    squatted = [f"dcvsr_{engine.pid}_{n:x}" for n in range(1, 65)]
    for name in squatted:
        os.close(os.open(f"/dev/shm/{name}", os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644))
    try:
        with engine.connect() as c:
            for k in range(3):
                with c.open(f"clip-{k}", W, H, 2, dtype="u8", settings=NOOP_SETTINGS) as ses:
                    assert ses._shm.name not in squatted
    finally:
        for name in squatted:
            shm.remove(name)
