"""Request-pattern benchmark for the DC-VSR renderer, through a real engine on the tiny model.

Prints, for one clip (30 frames of 24x24 u16 by default; the test preset with 2 steps):

1. the UNet tile passes of the clip served in one request, and served as consecutive small
   requests (one frame each by default): the kept state (last segment's output and carried state)
   must make these cost the same (the goal: at most 1.1x);
2. the same consecutive requests on an engine whose disk cache is off (DCVSR_CACHE_BYTES=0): the
   kept state in memory alone is what makes it 1.0x;
3. the latency of a one-frame request whose output is cached, in a session that has already hashed
   the clip's sources (median and p99), and of the first request of a new session on a cached clip
   (it reads and hashes the sources of the frame's chain first).

Passes are counted from the PROGRESS messages, whose unit is the UNet tile pass (each request's
final report, done == total, is what it ran).

    python bench/bench_requests.py [--frames 30] [--size 24] [--requests 30] [--latency 200]
"""

from __future__ import annotations

import argparse
import itertools
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "client")]

from dcvsr_engine.model import make_tiny  # noqa: E402
from dcvsr_engine.server.frame_cache import SUBDIR  # noqa: E402
from tests.engine_process import EngineProcess  # noqa: E402

DCVSR = "dcvsr_engine.server.dcvsr_renderer:DCVSRRenderer"
PRESET = dict(steps=2, tile_size=16, tile_frames=6, segment_frames=12, decode_chunk=6, scale=2.0,
              device="cpu", dtype="fp32")


def engine(model: Path, cache: Path, cache_bytes: str | None = None) -> EngineProcess:
    env = {"DCVSR_MODEL": str(model), "DCVSR_CACHE_DIR": str(cache), "DCVSR_THREADS": "1",
           "OMP_NUM_THREADS": "1"}
    if cache_bytes is not None:
        env["DCVSR_CACHE_BYTES"] = cache_bytes
    return EngineProcess(renderer=DCVSR, env=env).start(timeout=120)


def serve(session, requests: list[tuple[int, int]], frames: np.ndarray) -> tuple[int, float]:
    """(UNet passes, seconds) for these requests in order."""
    passes = 0
    t0 = time.perf_counter()
    for a, b in requests:
        reports: list[tuple[int, int]] = []
        report = reports.append
        for _ in session.render(a, b, source=frames.__getitem__, progress=lambda d, t, r=report: r((d, t))):
            pass
        assert reports and reports[-1][0] == reports[-1][1], reports
        passes += reports[-1][1]
    return passes, time.perf_counter() - t0


def consecutive(n: int, count: int) -> list[tuple[int, int]]:
    bounds = sorted({round(k * n / count) for k in range(count)} | {n})
    return list(itertools.pairwise(bounds))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--size", type=int, default=24, help="source frames are SIZE x SIZE")
    parser.add_argument("--requests", type=int, default=30, help="consecutive requests for the clip")
    parser.add_argument("--latency", type=int, default=200, help="one-frame requests timed")
    args = parser.parse_args()
    n, side = args.frames, args.size
    frames = np.random.default_rng(0).integers(0, 65536, (n, side, side, 3), dtype=np.uint16)
    small = consecutive(n, args.requests)
    work = Path(tempfile.mkdtemp(prefix="dcvsr-bench-"))
    try:
        model = make_tiny(work / "tiny")
        cache = work / "cache"
        print(f"clip: {n} frames of {side}x{side} u16, tiny model, {PRESET['steps']} steps, segments of "
              f"{PRESET['segment_frames']}, torch threads 1")

        e = engine(model, cache)
        try:
            with e.connect(idle_timeout=300) as client:
                with client.open("bench", side, side, n, dtype="u16", settings=PRESET) as session:
                    one, t_one = serve(session, [(0, n)], frames)
                shutil.rmtree(cache / SUBDIR, ignore_errors=True)
                with client.open("bench", side, side, n, dtype="u16", settings=PRESET) as session:
                    many, t_many = serve(session, small, frames)
                    print(f"UNet passes, one request:              {one:6d}  ({t_one:.1f} s)")
                    print(f"UNet passes, {len(small)} consecutive requests: {many:6d}  ({t_many:.1f} s)  "
                          f"ratio {many / one:.3f} (goal <= 1.1)")
                    rng = random.Random(1)
                    serve(session, [(0, 1)], frames)  # warm
                    times = []
                    for _ in range(args.latency):
                        i = rng.randrange(n)
                        t0 = time.perf_counter()
                        passes, _ = serve(session, [(i, i + 1)], frames)
                        times.append(time.perf_counter() - t0)
                        assert passes == 0
                times.sort()
                p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
                median = statistics.median(times)
                print(f"one-frame request, cached output:      median {median * 1e3:.2f} ms, "
                      f"p99 {p99 * 1e3:.2f} ms ({len(times)} requests, output {2 * side}x{2 * side})")
                firsts = []
                for k in range(5):
                    with client.open("bench", side, side, n, dtype="u16", settings=PRESET) as session:
                        t0 = time.perf_counter()
                        serve(session, [(n - 1 - k, n - k)], frames)
                        firsts.append(time.perf_counter() - t0)
                print(f"first request of a new session (cached clip, hashes the chain's {n} sources): "
                      f"median {statistics.median(firsts) * 1e3:.1f} ms")
        finally:
            e.close()

        e = engine(model, work / "cache-off", cache_bytes="0")
        try:
            with e.connect(idle_timeout=300) as client, \
                    client.open("bench", side, side, n, dtype="u16", settings=PRESET) as session:
                off, t_off = serve(session, small, frames)
            print(f"UNet passes, {len(small)} consecutive requests, disk cache off: {off:6d}  "
                  f"({t_off:.1f} s)  ratio {off / one:.3f}")
        finally:
            e.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
