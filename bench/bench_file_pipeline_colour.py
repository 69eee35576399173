"""The file pipeline's colour conversion (OpenColorIO), per output frame, at 1080p and 2160p.

    python bench/bench_file_pipeline_colour.py [--repeat N]

For each kind of input the command line converts each input frame into the model's encoding
(`ModelColour.to_model`, at the input size: output / 2 here, as for `--scale 2`) and each output
frame back (`from_model`, at the output size). Printed: milliseconds per output frame for both,
and their share of the SVD model's time per frame. That time is taken from bench/gpu_svd_tile.py's
figure where a GPU run is given (--svd-seconds), else from the stated assumption of 4.6 s per 1080p
frame on an H200, scaled by the pixel count for 2160p. The target: the whole file pipeline (decode,
colour, encode) under 10% of the model's time, so the pipeline never limits a GPU render.
Rec.709 and sRGB input is the identity and is skipped (no copy beyond one float32 array).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcvsr_engine.colour import ModelColour

SIZES = {"1080p": (1920, 1080), "2160p": (3840, 2160)}
CASES = {"Rec.709 SDR (identity)": (1, 1), "BT.2020 SDR": (14, 9), "BT.2020 PQ": (16, 9),
         "BT.2020 HLG": (18, 9)}
SVD_1080P_SECONDS = 4.6  # assumed seconds per 1080p output frame of the SVD-sized model on an H200


def timed(fn, frame: np.ndarray, repeat: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process's threads) per call: the CPU figure does not grow
    when other processes share the machine."""
    fn(frame)  # warm up (processor caches, thread pool)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        fn(frame)
    return (time.perf_counter() - wall) / repeat, (time.process_time() - cpu) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--svd-seconds", type=float, default=SVD_1080P_SECONDS,
                        help="the SVD model's seconds per 1080p output frame (from bench/gpu_svd_tile.py)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    load = os.getloadavg()[0]
    print(f"colour conversion per output frame ({os.cpu_count()} CPUs, load average {load:.1f}; model time: "
          f"{args.svd_seconds} s per 1080p frame, scaled by pixels)")
    print(f"{'size':6} {'input':24} {'to model ms':>12} {'back ms':>9} {'total ms':>9} {'CPU ms':>8} "
          f"{'of model':>9}")
    for size, (w, h) in SIZES.items():
        model_seconds = args.svd_seconds * (w * h) / (1920 * 1080)
        small = rng.uniform(0, 1, (h // 2, w // 2, 3)).astype(np.float32)
        large = rng.uniform(0, 1, (h, w, 3)).astype(np.float32)
        for name, (transfer, primaries) in CASES.items():
            colour = ModelColour.for_clip(transfer, primaries, w // 2, h // 2)
            (forward, forward_cpu) = timed(colour.to_model, small, args.repeat)
            (back, back_cpu) = timed(colour.from_model, large, args.repeat)
            total = forward + back
            print(f"{size:6} {name:24} {forward * 1e3:12.1f} {back * 1e3:9.1f} {total * 1e3:9.1f} "
                  f"{(forward_cpu + back_cpu) * 1e3:8.1f} {100 * total / model_seconds:8.2f}%")


if __name__ == "__main__":
    main()
