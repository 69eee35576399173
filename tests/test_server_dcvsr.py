"""The DC-VSR renderer in a real engine process: the determinism contract, the frame cache, bad settings.

One tiny model, the test preset with 2 steps, 24x24 frames, torch threads 1 here and in the engine.
Passes are counted from PROGRESS messages, whose unit is the UNet tile pass (a request reports
the passes it ran as its final done == total; 0 of 0 when served from memory or the cache).
"""

from __future__ import annotations

import itertools
import random
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from dcvsr_client import Code, EngineError
from dcvsr_protocol.colour import FULL, RGB_MATRIX, ColourTags

from dcvsr_engine.colour import ModelColour
from dcvsr_engine.sampler.pipeline import DCVSRSampler
from dcvsr_engine.server.frame_cache import SUBDIR
from tests.concurrently import alone_and_together
from tests.conftest import TEST_PRESET, TORCH_THREADS
from tests.engine_process import EngineProcess
from tests.test_sampler import clip

pytestmark = pytest.mark.timeout(240)

DCVSR = "dcvsr_engine.server.dcvsr_renderer:DCVSRRenderer"
W = H = 24
N = 30  # segments [0, 12), [12, 24), [24, 30)
PRESET = {**TEST_PRESET, "steps": 2}
SETTINGS = {**PRESET, "device": "cpu", "dtype": "fp32"}  # the reference runs on the CPU in fp32 too


def as_u16(frames: list[np.ndarray]) -> np.ndarray:
    return np.rint(np.stack(frames) * np.float32(65535)).astype(np.uint16)


def reference(model, frames: np.ndarray, **overrides) -> np.ndarray:
    """DCVSRSampler.upscale in this process, rounded to u16 (the clip's dtype) as written here."""
    sampler = DCVSRSampler.open(model, **{**PRESET, **overrides})
    out = np.stack(list(sampler.upscale(list(frames), len(frames))))
    return np.rint(np.clip(out, 0, 1) * np.float32(65535)).astype(np.uint16)


def segment_passes(model, frames: int = N, **overrides) -> list[int]:
    sampler = DCVSRSampler.open(model, **{**PRESET, **overrides})
    plan = sampler.plan
    tiles = len(plan.spatial_grid(sampler.plan.geometry(H, W)).tiles)
    return [plan.segment_passes(s, tiles) for s in sampler.plan.segments(frames)]


class Engines:
    """The module's engine; restart() replaces it by a new process on the same frame cache."""

    def __init__(self, model_dir: Path, cache_dir: Path) -> None:
        self.model_dir, self.cache_dir = model_dir, cache_dir
        self.engine: EngineProcess | None = None

    def start(self) -> EngineProcess:
        env = {"DCVSR_MODEL": str(self.model_dir), "DCVSR_CACHE_DIR": str(self.cache_dir),
               "DCVSR_THREADS": str(TORCH_THREADS), "OMP_NUM_THREADS": str(TORCH_THREADS)}
        self.engine = EngineProcess(renderer=DCVSR, env=env).start(timeout=60)
        return self.engine

    def restart(self) -> EngineProcess:
        assert self.engine is not None
        self.engine.close()
        return self.start()

    def connect(self):
        assert self.engine is not None
        return self.engine.connect(idle_timeout=120)

    def fresh_cache(self) -> None:
        """Empty the frame cache (the engine only ever sees entries appear and vanish)."""
        shutil.rmtree(self.cache_dir / SUBDIR, ignore_errors=True)


@pytest.fixture(scope="module")
def engines(tiny_model_dir, tmp_path_factory):
    e = Engines(tiny_model_dir, tmp_path_factory.mktemp("frame-cache"))
    e.start()
    yield e
    if e.engine is not None:
        e.engine.close()


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return as_u16(clip(N, H, W))


@pytest.fixture(scope="module")
def expected(tiny_model, frames) -> np.ndarray:
    return reference(tiny_model, frames)


def render(session, start: int, stop: int, frames: np.ndarray) -> tuple[dict[int, np.ndarray], int]:
    """Output frames start..stop-1 and the UNet passes the request ran; checks PLAN against the
    source frames the engine asked for."""
    planned = session.plan(start, stop)
    asked: list[int] = []
    reports: list[tuple[int, int]] = []

    def source(i: int) -> np.ndarray:
        asked.append(i)
        return frames[i]

    out = dict(session.render(start, stop, source=source, progress=lambda d, t: reports.append((d, t))))
    assert sorted(out) == list(range(start, stop))
    assert set(asked) <= set(planned), (start, stop, sorted(set(asked)), planned)
    assert reports and reports[-1][0] == reports[-1][1], reports
    return out, reports[-1][1]


def open_clip(client, name: str, frames: np.ndarray, settings: dict | None = None):
    return client.open(name, W, H, len(frames), dtype="u16", settings=settings or SETTINGS)


def orderings(rng: random.Random) -> dict[str, list[tuple[int, int]]]:
    bounds = [0, 3, 8, 9, 14, 19, 26, N]  # odd sizes, across segment boundaries
    ranges = list(itertools.pairwise(bounds))
    rng.shuffle(ranges)
    return {"one call": [(0, N)],
            "frame by frame, random order": [(i, i + 1) for i in rng.sample(range(N), N)],
            "odd ranges, random order": ranges}


def test_any_order_gives_the_sampler_s_frames_and_renders_each_segment_once(engines, tiny_model, frames,
                                                                              expected):
    full = sum(segment_passes(tiny_model))
    for name, requests in orderings(random.Random(0)).items():
        engines.fresh_cache()
        got: dict[int, np.ndarray] = {}
        passes = 0
        with engines.connect() as client, open_clip(client, "clip", frames) as session:
            assert (session.out_format.width, session.out_format.height) == (2 * W, 2 * H)
            for a, b in requests:
                out, ran = render(session, a, b, frames)
                got.update(out)
                passes += ran
        for i in range(N):
            assert got[i].dtype == np.uint16 and np.array_equal(got[i], expected[i]), (name, i)
        assert passes == full, name  # every segment once: kept state and the cache, no recomputing


def test_a_restarted_engine_serves_the_clip_from_the_cache(engines, frames, expected):
    with engines.connect() as client, open_clip(client, "clip", frames) as session:
        render(session, 0, N, frames)  # (already cached by the test above when run with it)
    engines.restart()
    with engines.connect() as client, open_clip(client, "clip", frames) as session:
        got: dict[int, np.ndarray] = {}
        passes = 0
        for a, b in ((20, 27), (3, 4), (0, 3), (27, N), (4, 20)):
            out, ran = render(session, a, b, frames)
            got.update(out)
            passes += ran
    assert passes == 0
    assert all(np.array_equal(got[i], expected[i]) for i in range(N))
    with engines.connect() as client:
        stats = client.status()["stats"]
    assert stats["passes"] == 0 and stats["outputs_from_disk"] >= 3  # this engine rendered nothing
    assert stats["devices"] == "cpu" and stats["cache_bytes"] > 0


@pytest.mark.parametrize("tap", [True, False])
def test_an_edited_frame_invalidates_exactly_the_segments_that_depend_on_it(engines, tiny_model, frames,
                                                                             tap):
    settings = {**SETTINGS, "tap": tap}
    edited = frames.copy()
    # In segment 1's last window, whose frames the next segment takes as its carried context (an
    # edit earlier in the segment may not reach them in 2 steps: then segment 2 is re-rendered, its
    # key having changed, and comes out the same).
    edited[22] = edited[22][::-1]
    per_segment = segment_passes(tiny_model, tap=tap)
    with engines.connect() as client:
        with open_clip(client, "clip", frames, settings) as session:
            before, _ = render(session, 0, N, frames)
        with open_clip(client, "clip (edited)", edited, settings) as session:
            after, passes = render(session, 0, N, edited)
    changed = {k for k, (a, b) in enumerate(((0, 12), (12, 24), (24, N)))
               if not all(np.array_equal(before[i], after[i]) for i in range(a, b))}
    if tap:  # segment 1 and, through the carried state, segment 2; segment 0 came from the cache
        assert changed == {1, 2} and passes == per_segment[1] + per_segment[2]
    else:
        assert changed == {1} and passes == per_segment[1]


def test_two_clients_on_two_clips_at_once_get_the_same_frames_as_alone(engines):
    n = 8
    clips = {"one": (as_u16(clip(n, H, W, seed=3)), SETTINGS),
             "two": (as_u16(clip(n, H, W, seed=4)[::-1]), {**SETTINGS, "seed": 7})}

    def run(name: str, out: dict, barrier: threading.Barrier | None) -> None:
        frames, settings = clips[name]
        with engines.connect() as client, open_clip(client, name, frames, settings) as session:
            if barrier is not None:
                barrier.wait(timeout=30)
            for a, b in ((0, 3), (3, 5), (5, n)):
                out.update(session.render(a, b, source=lambda i: frames[i]))

    # A fresh cache before each phase, so that the two really render at the same time.
    alone, together = alone_and_together(clips, run, timeout=180, before=engines.fresh_cache)
    for name in clips:
        assert sorted(together[name]) == list(range(n))
        assert all(np.array_equal(alone[name][i], together[name][i]) for i in range(n)), name
    assert not np.array_equal(alone["one"][0], alone["two"][0])


@pytest.mark.parametrize(("settings", "channels", "message"), [
    ({**SETTINGS, "colour_boost": 2}, 3, "unknown setting.*colour_boost"),
    ({**SETTINGS, "steps": 0}, 3, "steps must be at least 1"),
    ({**SETTINGS, "tile_overlap": 0.9}, 3, "tile_overlap must be at most 0.75"),
    ({**SETTINGS, "sap_gather": "sometimes"}, 3, "sap_gather must be one of"),
    ({**SETTINGS, "model": "/no/such/model"}, 3, "model: no model folder"),
    (SETTINGS, 4, "needs RGB frames"),
])
def test_bad_settings_are_refused_with_a_reason_and_the_engine_keeps_serving(engines, frames, settings,
                                                                             channels, message):
    with engines.connect() as client:
        with pytest.raises(EngineError, match=message) as info:
            client.open("bad", W, H, N, dtype="u16", channels=channels, settings=settings)
        assert info.value.code == Code.BAD_SETTINGS
        with open_clip(client, "clip", frames) as session:  # the same connection still works
            out, _ = render(session, 29, N, frames)
        assert out[29].shape == (2 * H, 2 * W, 3)


def test_f16_planar_inline_frames_come_back_as_the_sampler_s(engines, tiny_model):
    n = 6
    frames = np.stack(clip(n, H, W, seed=5)).astype(np.float16)
    sampler = DCVSRSampler.open(tiny_model, **PRESET)
    expected = np.stack(list(sampler.upscale(list(frames), n))).astype(np.float16)
    planar = np.ascontiguousarray(frames.transpose(0, 3, 1, 2))
    with engines.connect() as client, client.open("f16", W, H, n, dtype="f16", layout="planar",
                                                  transport="inline", settings=SETTINGS) as session:
        got = dict(session.render(2, n, source=lambda i: planar[i]))
        got.update(session.render(0, 2, source=lambda i: planar[i]))
    for i in range(n):
        assert got[i].dtype == np.float16 and np.array_equal(got[i].transpose(1, 2, 0), expected[i]), i


def test_a_session_s_colour_tags_decide_what_the_model_sees(engines, tiny_model):
    """A PQ session's frames reach the model through the OCIO mapping and come back through its inverse;
    the same bytes tagged Rec.709 are rendered as they are."""
    n = 4
    frames = np.stack(clip(n, H, W, seed=6))
    pq = ModelColour.for_clip(16, 9, W, H)
    sampler = DCVSRSampler.open(tiny_model, **PRESET)
    mapped = np.stack([pq.from_model(f) for f in sampler.upscale([pq.to_model(f) for f in frames], n)])
    expected = {"pq": mapped, "rec709": np.stack(list(sampler.upscale(list(frames), n)))}
    tags = {"rec709": ColourTags(RGB_MATRIX, 1, 1, FULL), "pq": ColourTags(RGB_MATRIX, 16, 9, FULL)}
    for name, colour in tags.items():
        with engines.connect() as client, client.open(f"colour-{name}", W, H, n, dtype="f32", colour=colour,
                                                      settings=SETTINGS) as session:
            got = np.stack([frame for _, frame in sorted(session.render(0, n, source=lambda i: frames[i]))])
        assert np.allclose(got, expected[name], atol=1e-5), name
    assert np.abs(expected["pq"] - expected["rec709"]).max() > 0.05


# -- the frame cache on its own ---------------------------------------------------------------------
KEY = "ab" * 32


def test_a_cache_entry_that_is_not_whole_reads_as_a_miss(tmp_path):
    from dcvsr_engine.server.frame_cache import CARRY, FRAMES, FrameCache

    cache = FrameCache(tmp_path, 1 << 20)
    frames = np.arange(2 * 4 * 5 * 3, dtype=np.uint16).reshape(2, 4, 5, 3)
    cache.put_frames(KEY, frames)
    assert np.array_equal(cache.get_frames(KEY, frames.shape, np.uint16), frames)
    assert np.array_equal(cache.get_frames(KEY, frames.shape, np.uint16, 1, 2), frames[1:])
    assert cache.get_frames(KEY, (2, 4, 5, 3), np.float16) is None  # other dtype
    assert cache.get_frames(KEY, (3, 4, 5, 3), np.uint16) is None  # other shape
    path = cache.path(KEY, FRAMES)
    whole = path.read_bytes()
    path.write_bytes(whole[:-1])  # truncated
    assert cache.get_frames(KEY, frames.shape, np.uint16) is None
    assert not path.exists()  # a bad entry is deleted
    path.write_bytes(b"\0" * len(whole))  # garbage
    assert cache.get_frames(KEY, frames.shape, np.uint16) is None
    cache.put_frames(KEY, frames)  # the next store replaces a bad entry
    assert np.array_equal(cache.get_frames(KEY, frames.shape, np.uint16), frames)
    cache.path(KEY, CARRY).write_bytes(b"not safetensors")
    assert cache.get_carry(KEY) is None
    assert not list(path.parent.glob("*.tmp-*"))  # no temporary files left behind


def test_the_cache_stays_within_its_size_by_dropping_the_least_recently_used(tmp_path):
    import os
    import time

    from dcvsr_engine.server.frame_cache import DIGEST_SIZE, FrameCache

    entry = np.zeros((1, 32, 32, 3), np.uint8)  # 3072 bytes + the header and the frame's digest
    cache = FrameCache(tmp_path, 4 * (entry.nbytes + 128 + DIGEST_SIZE))
    keys = [f"{k:02x}" * 32 for k in range(5)]
    for n, key in enumerate(keys[:4]):
        cache.put_frames(key, entry)
        path = cache.path(key, ".frames")
        os.utime(path, (time.time() - 100 + n, time.time() - 100 + n))  # oldest first
    assert cache.get_frames(keys[0], entry.shape, np.uint8) is not None  # a hit makes it the newest
    cache.put_frames(keys[4], entry)  # over the limit: down to 90%, oldest first
    held = [k for k in keys if cache.has(k, ".frames")]
    assert held == [keys[0], keys[3], keys[4]] and cache.held_bytes() <= cache.max_bytes
    assert not FrameCache(tmp_path, 0).has(keys[0], ".frames")  # size 0: the cache is off
