#!/usr/bin/env python3
"""Fit a model's footage classifier (`footage=auto`, dcvsr_engine/model/footage.py) on training material.

    .venv/bin/python scripts/fit_footage.py MODEL [--data sources.json] [--samples 600] [--crop 256]

Draws held-back crops of the training sources (seeds that neither the restorer's fit nor training
draws), as 2-frame clips at x2 and x4, a quarter each: clean (antialiased bicubic downscale); a
clean downscale of a good master (the crop first given a few levels of grain and light JPEG or video
compression at its own size, which is then also the target: real footage downscaled from a camera
or tape master keeps a trace of its grain and is still best restored as clean); with the
`realistic` preset (as `dcvsr eval --degrade realistic`); and with the degraded half of
scripts/nano_degradation.json (the milder mixture nano trains on). Each crop is labelled with the
restorer bank (clean or degraded) whose restoration of its target has the higher PSNR and weighted
by the dB between them, so the fit minimises the dB lost to the better bank. Fits on one set of
seeds, prints per kind and scale, on another set, how often it picks the degraded bank and what its
choice gains against each fixed bank and loses against the better one, and writes it into
MODEL/restorer/config.json (MODEL is a folder, e.g. a copy of the shipped nano). Never looks at the
evaluation clips.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "client")]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dcvsr_engine.model.footage import CLASSES, FEATURES, fit_classifier, frame_features  # noqa: E402
from dcvsr_engine.model.restorer import FOLDER, load_restorer, save_restorer  # noqa: E402
from dcvsr_engine.sampler.conditioning import geometry, upscale_and_pad  # noqa: E402
from dcvsr_engine.training.dataset import ClipDataset, DataConfig  # noqa: E402
from dcvsr_engine.training.degrade import CLEAN, degradation_config, degrade  # noqa: E402
from dcvsr_engine.training.sources import expand_sources, read_sources  # noqa: E402

SEED = 3 * 10**6  # held back: the restorer's fit and bench/restorer_gain.py draw other seeds


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return -10 * math.log10(max(((a - b) ** 2).mean().item(), 1e-12))


# The noise and compression of a master, given at its own size (scale 1: no blur, no resize).
# A good master: grain of a few 8-bit levels, light compression.
MASTER = replace(CLEAN, noise_prob=1.0, gaussian_sigma=(1.0, 4.0), poisson_scale=(0.05, 0.3),
                 jpeg_prob=0.5, jpeg_quality=(70, 95), video_prob=0.5, x264_crf=(16, 24),
                 mpeg4_bpp=(1.0, 3.0), quantize=True)


def draw(dataset: ClipDataset, restorer, kinds: dict, samples: int, seed: int):
    """Per crop: features, the PSNR of the clean and the degraded bank's restoration, (kind, scale).
    kinds: name -> (the master's degradation or None, the downscale's degradation)."""
    rows, gains, tags = [], [], []
    names = list(kinds)
    for i in range(samples):
        name, scale = names[i % len(names)], (2.0, 4.0)[(i // len(names)) % 2]
        clip = dataset.sample(seed, i, 0)
        master, config = kinds[name]
        if master is not None:
            clip = degrade(clip, master, 1.0, np.random.default_rng([seed, i, 2]))
        lr = degrade(clip, config, scale, np.random.default_rng([seed, i, 1]))[:1].clamp(0, 1)
        rows.append(frame_features(lr[0].permute(1, 2, 0).numpy()))
        up = upscale_and_pad(lr, geometry(lr.shape[-2], lr.shape[-1], scale, 1, 1))
        gains.append([psnr(restorer.apply(up, bank, scale), clip[:1]) for bank in CLASSES])
        tags.append((name, scale))
    return np.stack(rows), np.array(gains), tags


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, default=Path.home() / ".cache/dcvsr/training-data/sources.json")
    parser.add_argument("--samples", type=int, default=600, help="crops to fit on (as many to check on)")
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    sources = expand_sources(read_sources(args.data), 2, args.crop)
    dataset = ClipDataset(sources, DataConfig(frames=2, crop=args.crop))
    mixture = degradation_config(str(ROOT / "scripts" / "nano_degradation.json"))
    kinds = {"clean": (None, CLEAN), "good master": (MASTER, CLEAN),
             "realistic": (None, degradation_config("realistic")),
             "nano-degraded": (None, replace(mixture, clean_prob=0.0))}
    folder = args.model / FOLDER
    restorer = load_restorer(folder)
    x, psnrs, _ = draw(dataset, restorer, kinds, args.samples, SEED)
    diff = psnrs[:, 1] - psnrs[:, 0]  # what the degraded bank gains over the clean one
    classifier = fit_classifier(x, (diff > 0).astype(float), np.abs(diff))
    xc, pc, tags = draw(dataset, restorer, kinds, args.samples, SEED + 1)
    pick_degraded = np.array([classifier.decide(row) == "degraded" for row in xc])
    chosen = np.where(pick_degraded, pc[:, 1], pc[:, 0])
    print(f"fit_footage: {args.samples} crops of {args.crop} px to fit, {args.samples} others to check; "
          f"features {', '.join(FEATURES)}")
    print(f"weights {np.round(classifier.weights, 3).tolist()}, bias {classifier.bias:.3f}")
    print(f"  {'':>14}      picks degraded   dB vs clean bank   vs degraded bank   vs the better one")
    for name in kinds:
        for scale in (2.0, 4.0):
            k = [j for j, t in enumerate(tags) if t == (name, scale)]
            print(f"  {name:>14} x{scale:g}: {np.mean(pick_degraded[k]) * 100:10.0f}%  "
                  f"{np.mean(chosen[k] - pc[k, 0]):+16.3f}  {np.mean(chosen[k] - pc[k, 1]):+17.3f}  "
                  f"{np.mean(chosen[k] - pc[k].max(1)):+17.3f}")
    restorer.classifier = classifier
    save_restorer(folder, restorer)
    print(f"fit_footage: wrote {folder} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
