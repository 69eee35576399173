"""Frames through a real engine process (no-op renderer): any request order gives the same pixels."""

from __future__ import annotations

import itertools
import os
import random
import stat
import threading
from fractions import Fraction

import numpy as np
import pytest
from dcvsr_client import Code, EngineError

from dcvsr_engine.server.noop import NoOpRenderer
from dcvsr_engine.server.renderer import ClipSpec, materialize
from tests.concurrently import alone_and_together
from tests.engine_process import EngineProcess

pytestmark = pytest.mark.timeout(60)

W, H, N = 12, 8, 20
SETTINGS = {"scale": 2, "radius": 2, "blend": True}
CUTS = (7, 13)


@pytest.fixture(scope="module")
def engine():
    with EngineProcess() as e:
        yield e


@pytest.fixture
def client(engine):
    c = engine.connect()
    yield c
    c.close()


def make_clip(seed: int, n: int = N, dtype: str = "f16",
              shape: tuple[int, int, int] = (H, W, 3)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype in ("u8", "u16"):
        top = 255 if dtype == "u8" else 65535
        return rng.integers(0, top + 1, (n, *shape), dtype=np.uint8 if dtype == "u8" else np.uint16)
    return rng.random((n, *shape), dtype=np.float32).astype(np.float16 if dtype == "f16" else np.float32)


def reference(frames: np.ndarray, settings: dict, cuts: tuple[int, ...] = (), dtype: str = "f16") -> list:
    """The no-op renderer's output computed directly, in one pass, without any transport."""
    n, h, w, c = frames.shape
    spec = ClipSpec("ref", w, h, n, Fraction(24), dtype, c, settings=settings, cuts=cuts)
    session = NoOpRenderer().open(spec)
    shape = (session.out_size[1], session.out_size[0], c)
    return [materialize(f, shape, frames.dtype)
            for _i, f in session.render(0, n, lambda i: frames[i], lambda d, t: None, lambda: False)]


def test_any_order_and_range_gives_the_same_frames(client):
    frames = make_clip(1)
    ref = reference(frames, SETTINGS, CUTS)
    asked: list[int] = []

    def source(i: int) -> np.ndarray:
        asked.append(i)
        return frames[i]

    rng = random.Random(0)
    with client.open("clip-a", W, H, N, settings=SETTINGS, cuts=CUTS) as session:
        assert (session.out_format.width, session.out_format.height) == (2 * W, 2 * H)
        whole = dict(session.render(0, N, source=source))
        singles = {i: session.frame(i, source) for i in rng.sample(range(N), N)}
        bounds = [0, 3, 8, 9, 14, 19, N]
        ranges = list(itertools.pairwise(bounds))
        rng.shuffle(ranges)
        pieces: dict[int, np.ndarray] = {}
        for a, b in ranges:
            pieces.update(session.render(a, b, source=source))
    assert set(asked) <= set(range(N))
    for i in range(N):
        assert whole[i].dtype == np.float16 and whole[i].shape == (2 * H, 2 * W, 3)
        assert np.array_equal(whole[i], ref[i]), i
        assert np.array_equal(singles[i], ref[i]), i
        assert np.array_equal(pieces[i], ref[i]), i


@pytest.mark.parametrize(("layout", "transport", "dtype", "channels"), [
    ("planar", "shm", "u8", 3), ("interleaved", "inline", "f32", 4), ("planar", "inline", "u16", 1),
])
def test_layouts_transports_and_dtypes(client, layout, transport, dtype, channels):
    frames = make_clip(2, n=9, dtype=dtype, shape=(H, W, channels))
    ref = reference(frames, SETTINGS, (), dtype)
    given = np.ascontiguousarray(frames.transpose(0, 3, 1, 2)) if layout == "planar" else frames
    with client.open("clip-b", W, H, 9, dtype=dtype, channels=channels, layout=layout, transport=transport,
                     settings=SETTINGS) as session:
        got = dict(session.render(2, 9, source=lambda i: given[i]))
        got.update(session.render(0, 2, source=lambda i: given[i]))
    for i in range(9):
        frame = got[i].transpose(1, 2, 0) if layout == "planar" else got[i]
        assert np.array_equal(frame, ref[i]), i


def test_two_clients_on_two_clips_at_once(engine):
    clips = {"one": (make_clip(3), {"scale": 2, "radius": 1, "blend": True}),
             "two": (make_clip(4), {"scale": 3, "radius": 2, "blend": True})}

    def run(name: str, out: dict, barrier: threading.Barrier | None) -> None:
        frames, settings = clips[name]
        with engine.connect() as c, c.open(name, W, H, N, settings=settings) as session:
            if barrier is not None:
                barrier.wait(timeout=10)
            for a, b in ((0, 7), (7, 13), (13, N)):
                out.update(session.render(a, b, source=lambda i: frames[i]))

    alone, together = alone_and_together(clips, run, timeout=40)
    for name, (frames, settings) in clips.items():
        ref = reference(frames, settings)
        for i in range(N):
            assert np.array_equal(together[name][i], alone[name][i]), (name, i)
            assert np.array_equal(alone[name][i], ref[i]), (name, i)


def test_plan_names_the_source_window(client):
    with client.open("clip-c", W, H, N, settings=SETTINGS) as session:
        assert session.plan(5, 8) == range(3, 10)
        assert session.plan(0, 1) == range(0, 3)
        assert session.plan(18, N) == range(16, N)


def test_refusals_leave_the_session_usable(client):
    frames = make_clip(5)
    with pytest.raises(EngineError) as err:
        client.open("bad", W, H, N, settings={"scale": 2, "sharpness": 3})
    assert err.value.code == Code.BAD_SETTINGS and "sharpness" in str(err.value)
    with pytest.raises(EngineError) as err:
        client.open("bad", W, H, N, cuts=[0, 5])
    assert err.value.code == Code.BAD_CLIP
    with client.open("clip-d", W, H, N, settings=SETTINGS) as session:
        with pytest.raises(EngineError) as err:
            list(session.render(5, N + 1, source=lambda i: frames[i]))
        assert err.value.code == Code.BAD_RANGE

        def failing(i: int) -> np.ndarray:
            if i == 6:
                raise OSError("host could not decode frame 6")
            return frames[i]

        with pytest.raises(OSError, match="frame 6"):
            list(session.render(4, 10, source=failing))
        with pytest.raises(ValueError, match="shape"):
            list(session.render(0, 2, source=lambda i: frames[i][:, :5]))
        stream = session.render(0, N, source=lambda i: frames[i])
        for i, _f in stream:
            if i == 3:
                break
        stream.close()  # breaking out cancels the rest
        ref = reference(frames, SETTINGS)
        assert np.array_equal(session.frame(11, lambda i: frames[i]), ref[11])
    assert client.status()["sessions"] == 0


def test_private_files_and_segments(engine, client):
    mode = stat.S_IMODE
    assert mode(os.stat(engine.directory).st_mode) == 0o700
    assert mode(os.stat(engine.directory / "token").st_mode) == 0o600
    assert mode(os.stat(engine.directory / "engine.sock").st_mode) & 0o077 == 0
    with client.open("clip-e", W, H, N, settings=SETTINGS) as session:
        name = session._shm.name.lstrip("/")
        assert name.startswith(f"dcvsr_{engine.pid}_") and len(name) <= 30
        if os.path.isdir("/dev/shm"):
            assert mode(os.stat(f"/dev/shm/{name}").st_mode) == 0o600
    assert not os.path.exists(f"/dev/shm/{name}")
