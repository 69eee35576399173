"""Sampler benchmarks: the cost of consistency, carried-state size, memory, CPU speed.

    python bench/bench_sampler.py            # everything (a few minutes on 2 cores)
    python bench/bench_sampler.py passes     # only the pass counts and sizes (seconds)

1. UNet tile passes per output frame at 1080p output for the default settings,
   the paper's exact scheme and plain tiled CFG (no SAP, no TAP), counted by the
   same planning code the sampler runs (tests/test_sampler.py checks the count
   against a real run). One pass = one UNet call on one tile, both guidance
   branches batched.
2. Size of the carried state at 1080p, and of SAP's whole-frame tokens held per
   segment by the 'previous' gathering, for the SVD-sized UNet.
3. On the tiny model: peak memory of `dcvsr upscale` for a clip and one ten times
   longer (ratio), seconds per output frame, and how far 'previous' and 'exact'
   SAP gathering differ.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from dcvsr_protocol.settings import Settings  # noqa: E402

from dcvsr_engine.sampler.carry import CarriedState  # noqa: E402
from dcvsr_engine.sampler.plan import Plan  # noqa: E402

SVD_CHANNELS_AT_THE_FOUR_LAYERS = 320  # block_out_channels[0] of SVD's UNet
FRAMES_1080P = 700                     # about 28 s at 25 fps
LR_1080P = (270, 480)                  # x4 -> 1080x1920


def passes_per_frame(**overrides) -> float:
    plan = Plan(Settings(**overrides))
    return plan.passes(FRAMES_1080P, *LR_1080P) / FRAMES_1080P


def bench_passes() -> None:
    print(f"== UNet tile passes per output frame, 1080p output, {FRAMES_1080P} frames, 25 steps ==")
    # The baseline: plain tiled CFG over the same windows, the clip in one piece (without TAP a
    # segmented render would drop the windows that straddle segment boundaries).
    plain = passes_per_frame(sap=False, tap=False, segment_frames=FRAMES_1080P)
    rows = [("plain tiled CFG (no SAP, no TAP), one segment", plain),
            ("plain tiled CFG, segments of 70 (no overlap at boundaries)",
             passes_per_frame(sap=False, tap=False))]
    for segment in (70, 140, 280):
        rows.append((f"default: SAP 'previous' + TAP, segments of {segment}",
                     passes_per_frame(segment_frames=segment)))
        rows.append((f"paper: SAP 'exact' (gather pass) + TAP, segments of {segment}",
                     passes_per_frame(segment_frames=segment, sap_gather="exact")))
    for name, value in rows:
        print(f"  {name:<58} {value:8.1f}   x{value / plain:.3f}")

    s = Settings()
    plan = Plan(s)
    geo = plan.geometry(*LR_1080P)
    h, w = geo.latent_hw
    context = plan.segments(FRAMES_1080P)[1].context
    print(f"\n== sizes at 1080p (latent {h}x{w}) ==")
    for steps in (25, 50):
        carried = CarriedState(0, "", torch.zeros(steps, context, 4, h, w, dtype=torch.float16),
                               torch.zeros(context, 4, h, w), torch.zeros(context, 1024))
        print(f"  carried state, {steps} steps: {carried.nbytes / 1e6:.1f} MB ({context} frames' fp16 "
              "trajectory + their LR latents and embeddings; budget 100 MB)")
    tokens = (h // s.sap_stride) * (w // s.sap_stride)
    # x 4 layers x 2 guidance branches x 2 bytes (fp16): the gathered hidden states; keys and values
    # (twice that) exist for one window at a time.
    hidden = tokens * s.tile_frames * SVD_CHANNELS_AT_THE_FOUR_LAYERS * 4 * 2 * 2
    windows = len(plan.temporal_grid(context + s.segment_frames).windows)
    print(f"  SAP whole-frame tokens: {hidden / 1e9:.2f} GB of hidden states per window (fp16) + "
          f"{2 * hidden / 1e9:.2f} GB of keys and values for the window in use; 'exact' holds one window, "
          f"'previous' a segment's {windows}: {(hidden * windows + 2 * hidden) / 1e9:.1f} GB")


def _child_peak(args: list[str]) -> tuple[float, float]:
    """Run `dcvsr` in a child; return (its peak RSS in MB, seconds)."""
    code = ("import resource, sys; from dcvsr_engine.cli import main; rc = main(sys.argv[1:]); "
            "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
            "sys.exit(rc)")
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"})
    if done.returncode:
        raise SystemExit(done.stderr)
    peak = next(line for line in done.stderr.splitlines() if line.startswith("PEAK"))
    return int(peak.split()[1]) / 1024, time.monotonic() - start


def bench_tiny(tmp: Path) -> None:
    from dcvsr_engine.io import open_writer
    from dcvsr_engine.model import make_tiny

    model = make_tiny(tmp / "tiny")
    rng = np.random.default_rng(0)
    flags = ["--model", str(model), "--scale", "2", "--threads", "2", "--quiet", "-y", "--steps", "2",
             "--segment-frames", "12"]
    for frames in (12, 120):
        with open_writer(tmp / f"in{frames}.mkv", 24, 24, 24, codec="ffv1") as out:
            for _ in range(frames):
                out.write(rng.random((24, 24, 3), dtype=np.float32))
    print("\n== tiny model, CPU, 24x24 -> 48x48, 2 steps, segments of 12 ==")
    short, t_short = _child_peak(["upscale", str(tmp / "in12.mkv"), "-o", str(tmp / "o12.mkv"), *flags])
    long, t_long = _child_peak(["upscale", str(tmp / "in120.mkv"), "-o", str(tmp / "o120.mkv"), *flags])
    print(f"  peak RSS: 12 frames {short:.0f} MB, 120 frames {long:.0f} MB: ratio {long / short:.3f} "
          "(target < 1.2)")
    print(f"  wall time incl. start-up: 12 frames {t_short:.1f} s, 120 frames {t_long:.1f} s; "
          f"{(t_long - t_short) / 108:.2f} s per extra output frame")

    from dcvsr_engine.model import load_model
    from dcvsr_engine.sampler.pipeline import DCVSRSampler

    torch.set_num_threads(2)
    m = load_model(model, device="cpu", dtype="fp32")
    clip = [rng.random((12, 40, 3), dtype=np.float32) for _ in range(12)]
    outs = {}
    for gather in ("previous", "exact"):
        sampler = DCVSRSampler.open(m, sap_gather=gather, scale=4.0)
        start = time.monotonic()
        outs[gather] = np.stack(list(sampler.upscale(clip, len(clip))))
        print(f"  sap_gather={gather}: {sampler.passes} passes, "
              f"{(time.monotonic() - start) / len(clip):.2f} s per output frame")
    diff = np.abs(outs["previous"] - outs["exact"])
    psnr = 10 * np.log10(1.0 / max(float((diff ** 2).mean()), 1e-12))
    print(f"  'previous' vs 'exact' output: mean abs {diff.mean():.4f}, max abs {diff.max():.4f}, "
          f"PSNR {psnr:.1f} dB (random tiny weights: an upper bound on nothing, a check that both run)")


if __name__ == "__main__":
    bench_passes()
    if sys.argv[1:] != ["passes"]:
        with tempfile.TemporaryDirectory() as tmp:
            bench_tiny(Path(tmp))
