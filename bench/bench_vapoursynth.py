"""vsdcvsr.upscale's throughput next to the engine's own, in the same run, on the tiny model.

One engine process (the tiny model, one torch thread, its own frame cache). For one clip (48 frames
of 32x32 YUV420P8 by default, the test preset with 2 steps):

1. the engine's own frames/s: the clip's RGB frames (converted beforehand, not timed) rendered with one
   request through the client, the way a host that already holds the frames would;
2. the plugin's frames/s: a script whose output is `vsdcvsr.upscale(clip, ...)` written as y4m with
   VideoNode.output(y4m=True, prefetch=N) (vspipe's in-process twin), from the first frame requested
   to the last written: the source conversion, the PLAN requests, the frame fetching, the conversion
   back to YUV420P8 and the y4m writing are all inside;
3. the ratio plugin / engine (the goal: at least 0.9).

Each measurement uses a seed of its own, so every one renders (no frame-cache hits); the pair is
measured --repeat times after one warm-up pair, alternating which goes first, and the medians are
reported, with the segments the engine rendered for the plugin (each once: no re-renders). On shared
CPUs single runs vary by about 10% either way.

    python bench/bench_vapoursynth.py [--frames 48] [--size 32] [--prefetch 4] [--threads 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "client"), str(ROOT / "plugin")]

from dcvsr_engine.model import make_tiny  # noqa: E402
from tests.engine_process import EngineProcess  # noqa: E402

DCVSR = "dcvsr_engine.server.dcvsr_renderer:DCVSRRenderer"
PRESET = dict(steps=2, tile_size=16, tile_frames=6, segment_frames=12, decode_chunk=6, scale=2.0,
              device="cpu", dtype="fp32")


def source(vs, core, frames: int, size: int):
    """A YUV420P8 clip of random pixels (a Python source: cheap next to the engine)."""
    base = core.std.BlankClip(width=size, height=size, format=vs.YUV420P8, length=frames)

    def fill(n, f):
        out = f.copy()
        rng = np.random.default_rng(n)
        for p in range(3):
            plane = np.asarray(out[p])
            plane[:] = rng.integers(16, 236, plane.shape, dtype=np.uint8)
        return out

    return core.std.ModifyFrame(base, base, fill)


def engine_fps(vs, core, clip, seed: int) -> float:
    from dcvsr_client import Client

    rgb = core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s="170m", range_in_s="limited")
    frames = [np.stack([np.asarray(rgb.get_frame(i)[p]) for p in range(3)]) for i in range(clip.num_frames)]
    with Client.connect(autostart=False) as client, client.open(
            "bench direct", clip.width, clip.height, clip.num_frames, dtype="f32", layout="planar",
            settings={**PRESET, "seed": seed}) as session:
        t0 = time.perf_counter()
        count = sum(1 for _ in session.render(0, clip.num_frames, source=lambda i: frames[i]))
        seconds = time.perf_counter() - t0
    assert count == clip.num_frames
    return count / seconds


def rendered() -> int:
    """Segments the engine has rendered so far."""
    from dcvsr_client import Client

    with Client.connect(autostart=False) as client:
        return client.status()["stats"]["segments_rendered"]


def plugin_fps(vs, core, clip, seed: int, prefetch: int) -> tuple[float, int]:
    """(frames/s, segments the engine rendered for it)."""
    import vsdcvsr

    up = vsdcvsr.upscale(clip, **{**PRESET, "seed": seed})
    before = rendered()
    with open(os.devnull, "wb") as sink:
        t0 = time.perf_counter()
        up.output(sink, y4m=True, prefetch=prefetch)
        seconds = time.perf_counter() - t0
    return clip.num_frames / seconds, rendered() - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--prefetch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="VapourSynth worker threads")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    with tempfile.TemporaryDirectory(prefix="dcvsr-bench-vs-") as tmp:
        model = make_tiny(Path(tmp) / "tiny")
        env = {"DCVSR_MODEL": str(model), "DCVSR_CACHE_DIR": str(Path(tmp) / "cache"), "DCVSR_THREADS": "1",
               "OMP_NUM_THREADS": "1"}
        with EngineProcess(renderer=DCVSR, env=env) as engine:
            os.environ["DCVSR_RUNTIME_DIR"] = str(engine.directory)
            os.environ["DCVSR_AUTOSTART"] = "0"
            import vapoursynth as vs

            core = vs.core
            core.num_threads = args.threads
            clip = source(vs, core, args.frames, args.size)
            print(f"clip: {args.frames} frames of {args.size}x{args.size} YUV420P8 -> "
                  f"{int(args.size * PRESET['scale'])}px; preset {PRESET}; VapourSynth threads "
                  f"{args.threads}, prefetch {args.prefetch}; engine: tiny model, 1 torch thread", flush=True)
            engine_fps(vs, core, clip, seed=1000)  # warm-up: model in memory, first-call costs
            plugin_fps(vs, core, clip, seed=1001, prefetch=args.prefetch)
            segments = -(-args.frames // PRESET["segment_frames"])
            direct, plugin = [], []
            for k in range(args.repeat):  # alternating which goes first (the CPUs may be shared)
                if k % 2:
                    fps, count = plugin_fps(vs, core, clip, seed=2 * k + 1, prefetch=args.prefetch)
                    direct.append(engine_fps(vs, core, clip, seed=2 * k))
                else:
                    direct.append(engine_fps(vs, core, clip, seed=2 * k))
                    fps, count = plugin_fps(vs, core, clip, seed=2 * k + 1, prefetch=args.prefetch)
                plugin.append(fps)
                print(f"  run {k + 1}: engine {direct[-1]:.2f} frames/s, plugin {fps:.2f} frames/s "
                      f"({fps / direct[-1]:.3f}); segments rendered for the plugin: {count} of {segments}",
                      flush=True)
    d, p = statistics.median(direct), statistics.median(plugin)
    ratio = p / d
    print(f"engine (client, one request): {d:.2f} frames/s")
    print(f"vsdcvsr y4m render:           {p:.2f} frames/s")
    print(f"ratio: {ratio:.3f} (goal: at least 0.9) -> {'ok' if ratio >= 0.9 else 'BELOW GOAL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
