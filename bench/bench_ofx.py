"""OpenFX bridge benchmark: frames/s through the test host and the plug-in versus the Python
client, on the same clip, settings and engine in the same run, and the pixel bytes each path
copies per output frame.

By default the engine runs the no-op renderer (nearest-neighbour x2 over a window of 5 frames),
so the figures measure the bridge (protocol, slots, pixel conversions), not a model;
`--renderer nano` runs the shipped nano model's preview (what scrubbing a timeline runs), where
both paths wait on the same sampler. Both paths render one frame per request, in order, as a
host does. Each path's source frames are made before its clock starts: the Python client's as
arrays, the test host's as RGBA float images it hands out from its cache (--cached-sources, as
Nuke and Resolve do) without copying them; neither path converts the output for display.

Bytes copied count the pixel bytes each path writes: the Python client writes RGB float into the
source slot and reads the output slot into an RGB float array; the plug-in writes RGB float into
the source slot (from the host's RGBA float image) and the output slot into the host's RGBA
float image. RGBA float in and out is what an OpenFX host hands an effect: its 4 bytes a pixel
more on the output are inherent. The plug-in also reads each rendered frame's source alpha to
see whether it is opaque (it copies it out only when not).

    python bench/bench_ofx.py [--width 960 --height 540] [--frames 24] [--rounds 3] [--renderer noop|nano]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "client")]

from dcvsr_protocol.colour import ColourTags  # noqa: E402

from dcvsr_engine.server.noop import NoOpRenderer  # noqa: E402
from tests.engine_process import EngineProcess  # noqa: E402

RENDERERS = {"noop": "bench.bench_ofx:BridgeBenchRenderer",
             "nano": "dcvsr_engine.server.dcvsr_renderer:DCVSRRenderer"}
# What the plug-in sends with Scale 2x and the given Quality (its other parameters at their defaults).
SETTINGS = {"noop": {"scale": 2.0, "quality": "full", "footage": "auto", "seed": 0},
            "nano": {"scale": 2.0, "quality": "preview", "footage": "auto", "seed": 0}}
QUALITY_PARAM = {"noop": "0", "nano": "1"}


class BridgeBenchRenderer(NoOpRenderer):
    """The no-op renderer, taking (and ignoring) the session settings the plug-in always sends;
    its scale must be an integer."""

    def open(self, spec):
        settings = {k: v for k, v in spec.settings.items() if k not in ("quality", "model")}
        settings["radius"] = 2
        return super().open(dataclasses.replace(spec, settings=settings))


def pattern(frame: int, width: int, height: int) -> np.ndarray:
    y, x, c = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    return (((7 * frame + 3 * x + 5 * y + 11 * c) % 256) / np.float32(255)).astype(np.float32)


def python_path(engine: EngineProcess, width: int, height: int, frames: int,
                renderer: str) -> tuple[float, float]:
    """Frames/s and pixel bytes copied per output frame by the Python client."""
    sources = [pattern(i, width, height) for i in range(frames)]  # made before the clock starts
    served = 0

    def source(i: int) -> np.ndarray:
        nonlocal served
        served += 1
        return sources[i]

    with engine.connect(idle_timeout=300) as client:
        session = client.open("bench-python", width, height, frames, dtype="f32", channels=3,
                              colour=ColourTags(0, 1, 1, 1), settings=SETTINGS[renderer])
        started = time.perf_counter()
        for i in range(frames):
            for _index, _frame in session.render(i, i + 1, source):
                pass
        elapsed = time.perf_counter() - started
        session.close()
    in_bytes, out_bytes = width * height * 12, 4 * width * height * 12
    return frames / elapsed, (served * in_bytes + frames * out_bytes) / frames


def plugin_path(engine: EngineProcess, width: int, height: int, frames: int,
                renderer: str) -> tuple[float, float]:
    """Frames/s and pixel bytes copied per output frame by the plug-in in the test host."""
    build = ROOT / "ofx_bridge" / "build"
    args = [str(build / "tests" / "ofx_host"), str(build / "DCVSR.ofx.bundle"), "-",
            "--size", str(width), str(height), "--frames-in-clip", str(frames),
            "--render", ",".join(map(str, range(frames))), "--param", "scale=0",
            "--param", f"quality={QUALITY_PARAM[renderer]}", "--cached-sources"]
    env = dict(os.environ, DCVSR_RUNTIME_DIR=str(engine.directory), DCVSR_AUTOSTART="0")
    result = subprocess.run(args, capture_output=True, text=True, timeout=1800, env=env)
    failed = re.findall(r"^render \d+ -> [1-9].*$", result.stdout, re.M)
    if result.returncode or failed:
        raise SystemExit(f"the test host failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    elapsed = float(re.search(r"render-seconds (\S+)", result.stdout)[1])
    fetched = int(re.search(r"fetched-source (\d+)", result.stdout)[1])
    # Per source image the engine asked for: host RGBA float -> the slot's RGB (12 B/pixel); the
    # alpha fetch of each rendered frame copies nothing (the clip is opaque). Per output frame:
    # the slot -> the host's RGBA float image (16 B/pixel).
    alpha_fetches = frames
    in_bytes = (fetched - alpha_fetches) * width * height * 12
    out_bytes = frames * 4 * width * height * 16
    return frames / elapsed, (in_bytes + out_bytes) / frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=960)
    parser.add_argument("--height", type=int, default=540)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--renderer", choices=sorted(RENDERERS), default="noop")
    args = parser.parse_args()
    subprocess.run(["make", "-C", str(ROOT / "ofx_bridge"), f"PYTHON={sys.executable}", "linux", "tests"],
                   check=True, capture_output=True)
    w, h, n, r = args.width, args.height, args.frames, args.renderer
    # The frame cache would serve the second path from the first's work: each engine gets none.
    env = {"DCVSR_CACHE_BYTES": "0"}
    with EngineProcess(renderer=RENDERERS[r], env=env) as engine:  # its PYTHONPATH holds this checkout
        python_path(engine, w, h, min(n, 2), r)  # warm up both paths (and load the model)
        plugin_path(engine, w, h, min(n, 2), r)
        py, c = [], []
        for _ in range(args.rounds):  # interleaved, so that the machine's load hits both alike
            py.append(python_path(engine, w, h, n, r))
            c.append(plugin_path(engine, w, h, n, r))
    py_fps, py_bytes = max(f for f, _ in py), py[0][1]
    c_fps, c_bytes = max(f for f, _ in c), c[0][1]
    what = "no-op renderer x2 (window of 5)" if r == "noop" else "nano preview x2"
    print(f"clip {w}x{h} -> {2 * w}x{2 * h}, {n} frames, one request per frame, {what}, "
          f"best of {args.rounds}")
    print(f"python client      {py_fps:8.2f} frames/s   {py_bytes / 1e6:8.2f} MB copied per output frame")
    print(f"ofx plug-in (host) {c_fps:8.2f} frames/s   {c_bytes / 1e6:8.2f} MB copied per output frame")
    print(f"ratio plug-in / python: {c_fps / py_fps:.2f} (target >= 0.9)")
    print("copied: python = RGB f32 into the source slot + the output slot into an RGB f32 array; "
          "plug-in = the host's RGBA f32 into the source slot (RGB) + the output slot into the host's "
          "RGBA f32 image (RGBA float in and out is inherent to OpenFX)")


if __name__ == "__main__":
    main()
