#!/usr/bin/env python3
"""Write held-back clips of the training sources, for choosing nano's settings with `dcvsr eval`.

    .venv/bin/python scripts/heldback_clips.py DEST [--data sources.json] [--clips 6] [--frames 12]
                                               [--crop 224]

Each clip is drawn as training draws them (a source, a crop, synthetic camera motion; video sources
as they move), from seeds that training, the restorer's fit and the footage classifier's fit never
draw, and written as a folder of PNGs: DEST/clip-K/NNNN.png. Settings are chosen on these
(`dcvsr eval --hr DEST ...`), never on the held-out evaluation clips (scripts/eval_nano).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "client")]

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from dcvsr_engine.training.dataset import ClipDataset, DataConfig  # noqa: E402
from dcvsr_engine.training.sources import expand_sources, read_sources  # noqa: E402

SEED = 4 * 10**6  # held back (fit_footage.py draws 3e6, restorer_gain.py 1e6, training small seeds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--data", type=Path, default=Path.home() / ".cache/dcvsr/training-data/sources.json")
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--crop", type=int, default=224)
    args = parser.parse_args()
    config = DataConfig(frames=args.frames, crop=args.crop)
    dataset = ClipDataset(expand_sources(read_sources(args.data), args.frames, args.crop), config)
    for k in range(args.clips):
        clip = dataset.sample(SEED, k, 0).clamp(0, 1)  # (frames, 3, crop, crop)
        folder = args.dest / f"clip-{k}"
        folder.mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(clip):
            rgb = (frame.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
            cv2.imwrite(str(folder / f"{t:04d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    print(f"heldback_clips: {args.clips} clips of {args.frames} frames at {args.crop} px in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
