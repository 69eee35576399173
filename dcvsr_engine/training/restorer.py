"""Fitting the restorer's filter banks (model/restorer.py) in closed form, from the training sources.

Per bank: HR crops drawn like the UNet's training clips (dataset.py), degraded as that bank's footage
(clean, degraded, or the mixture for "auto"), at each training scale; for every pixel away from the
crop border, the row of its bicubic neighbourhood and the target HR - bicubic are added to the
normal equations of its bucket, A^T A and A^T r. Each bucket's filter is then the ridge solution
(A^T A + ridge * mean(diag) I)^-1 A^T r: buckets with few pixels stay near zero (plain bicubic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..model.restorer import BUCKETS, FOOTAGE, TAPS, Restorer, neighbourhood, structure
from ..sampler.conditioning import geometry, upscale_and_pad
from .dataset import ClipDataset, DataConfig
from .degrade import CLEAN, DegradeConfig, degrade
from .sources import expand_sources, read_sources

CROP = 96       # HR crop side of the fitting pairs
MARGIN = 4      # pixels of each crop's border left out (the bicubic upscale's edge is mirrored there)
RIDGE = 1e-3
CHUNK = 32      # crops per accumulation (their neighbourhoods take 0.3 GB)


def fitting_dataset(sources: Path) -> ClipDataset:
    """Crops of CROP px from the sources file, as clips of 2 frames (the video compression stage of the
    degradation needs a clip; the fit uses the first frame)."""
    return ClipDataset(expand_sources(read_sources(Path(sources)), 2, CROP), DataConfig(frames=2, crop=CROP))


def footage_configs(mixture: DegradeConfig) -> dict[str, DegradeConfig]:
    """What each bank is fitted on, given the UNet's training mixture."""
    return {"auto": mixture, "clean": CLEAN, "degraded": replace(mixture, clean_prob=0.0)}


def draw_pairs(dataset: ClipDataset, config: DegradeConfig, scale: float, count: int,
               seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` HR crops (the first frame of each clip) and their bicubic upscales after `config`."""
    hr, up = [], []
    for i in range(count):
        clip = dataset.sample(seed, i, 0)
        lr = degrade(clip, config, scale, np.random.default_rng([seed, i, 1]))[:1]
        geo = geometry(lr.shape[-2], lr.shape[-1], scale, 1, 1)
        hr.append(clip[:1])
        up.append(upscale_and_pad(lr, geo))
    return torch.cat(hr), torch.cat(up)


class NormalEquations:
    """A^T A and A^T r per bucket, in float64."""

    def __init__(self) -> None:
        self.q = torch.zeros(BUCKETS, TAPS, TAPS, dtype=torch.float64)
        self.v = torch.zeros(BUCKETS, TAPS, dtype=torch.float64)

    def add(self, restorer: Restorer, hr: torch.Tensor, up: torch.Tensor) -> None:
        inner = (slice(None), slice(None), slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
        keys = restorer.bucket(up)[:, None].expand(-1, 3, -1, -1)[inner].flatten()
        rows = neighbourhood(up)[inner].flatten(0, 3).double()
        target = (hr - up)[inner].flatten().double()
        # Sort rows by bucket, then one matrix product per bucket.
        order = torch.argsort(keys)
        keys, rows, target = keys[order], rows[order], target[order]
        start = 0
        for bucket, count in enumerate(torch.bincount(keys, minlength=BUCKETS).tolist()):
            if count:
                a = rows[start:start + count]
                self.q[bucket] += a.T @ a
                self.v[bucket] += a.T @ target[start:start + count]
                start += count

    def solve(self, ridge: float = RIDGE) -> torch.Tensor:
        eye = torch.eye(TAPS, dtype=torch.float64)
        damping = ridge * self.q.diagonal(dim1=1, dim2=2).mean(1)[:, None, None] + 1e-9
        return torch.linalg.solve(self.q + damping * eye, self.v[..., None])[..., 0].float()


def bucket_edges(up: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Strength and coherence edges at their terciles over `up`, so the buckets are evenly filled."""
    _, strength, coherence = structure(up)
    thirds = torch.tensor([1 / 3, 2 / 3])
    return torch.quantile(strength.flatten()[::7], thirds), torch.quantile(coherence.flatten()[::7], thirds)


def fit_restorer(dataset: ClipDataset, mixture: DegradeConfig, scales: tuple[float, ...], crops: int,
                 seed: int = 0, log: Callable[[str], None] = print, per_scale: bool = False) -> Restorer:
    """One bank per kind of footage, each from `crops` crops at every scale (own seeds per bank and scale);
    with `per_scale`, each bank holds one set of filters per scale, fitted on that scale's crops only."""
    configs = footage_configs(mixture)
    _, up = draw_pairs(dataset, configs["auto"], scales[-1], min(crops, 200), seed)
    restorer = Restorer(*bucket_edges(up), {}, scales=tuple(scales) if per_scale else ())
    for b, name in enumerate(FOOTAGE):
        equations = [NormalEquations() for _ in (scales if per_scale else scales[:1])]
        for s, scale in enumerate(scales):
            stream = int(np.random.default_rng([seed, b, s]).integers(2**62))
            hr, up = draw_pairs(dataset, configs[name], scale, crops, stream)
            for i in range(0, crops, CHUNK):
                equations[s if per_scale else 0].add(restorer, hr[i:i + CHUNK], up[i:i + CHUNK])
        solved = [e.solve() for e in equations]
        restorer.banks[name] = torch.stack(solved) if per_scale else solved[0]
        at = "/".join(f"x{s:g}" for s in scales)
        each = ", per scale" if per_scale else ""
        log(f"restorer: fitted the {name!r} bank on {crops} crops at {at}{each}")
    return restorer
