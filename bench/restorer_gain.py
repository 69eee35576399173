"""What a model's restorer gains over bicubic, per bank, and what it costs per frame.

1. Gain: on held-back crops of the training sources (seeds the fit never draws; 96 px, first frame of
   each clip), clean (antialiased bicubic downscale) and realistic (the `realistic` preset, as
   `dcvsr eval --degrade realistic` uses; or --degradation), at x2 and x4: 10 log10(MSE of bicubic /
   MSE of the restored upscale), over all pixels of all crops, for each bank ("auto", "clean",
   "degraded"; model/restorer.py). One bank fitted on clean input loses to bicubic on degraded input
   and the reverse: what `footage` is for.
2. Cost: seconds to restore one 960x544 frame (median of 3), next to the bicubic upscale itself and
   one nano UNet pass per frame (bench/bench_nano.py --unets measures the latter: 0.216 s).

    python bench/restorer_gain.py [--model nano] [--data sources.json] [--crops 300] [--degradation D]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "client")]

from dcvsr_engine.model.layout import resolve_model_path  # noqa: E402
from dcvsr_engine.model.restorer import FOLDER, FOOTAGE, load_restorer  # noqa: E402
from dcvsr_engine.training.degrade import CLEAN, degradation_config  # noqa: E402
from dcvsr_engine.training.restorer import CROP, draw_pairs, fitting_dataset  # noqa: E402

HELD_BACK = 10**6


def seconds(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nano")
    parser.add_argument("--data", type=Path, default=Path.home() / ".cache/dcvsr/training-data/sources.json")
    parser.add_argument("--crops", type=int, default=300)
    parser.add_argument("--degradation", default="realistic", help="the realistic columns' degradation")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    restorer = load_restorer(resolve_model_path(args.model) / FOLDER)
    dataset = fitting_dataset(args.data)
    realistic = replace(degradation_config(args.degradation), clean_prob=0.0)
    columns = {}
    for kind, config in (("clean", CLEAN), ("realistic", realistic)):
        for scale in (2.0, 4.0):
            seed = HELD_BACK + len(columns)
            columns[f"{kind} x{scale:g}"] = (*draw_pairs(dataset, config, scale, args.crops, seed), scale)
    print(f"gain over bicubic in dB on {args.crops} held-back {CROP}-px crops per column ({args.model})")
    print(f"{'bank':<10}" + "".join(f"{name:>14}" for name in columns))
    for bank in FOOTAGE:
        cells = []
        for hr, up, scale in columns.values():
            restored = restorer.apply(up, bank, scale)
            cells.append(10 * math.log10(((up - hr) ** 2).mean() / ((restored - hr) ** 2).mean()))
        print(f"{bank:<10}" + "".join(f"{c:>+14.3f}" for c in cells), flush=True)
    lr = torch.rand(1, 3, 272, 480)
    up = F.interpolate(lr, size=(544, 960), mode="bicubic", align_corners=False).clamp(0, 1)
    bicubic = seconds(lambda: F.interpolate(lr, size=(544, 960), mode="bicubic", align_corners=False))
    restore = seconds(lambda: restorer.apply(up, "auto", 2.0))
    print(f"960x544, {args.threads} threads: bicubic upscale {bicubic:.3f} s, restorer {restore:.3f} s "
          "per frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
