"""HR training clips: random crops of videos, and photos given synthetic camera motion.

Every clip is a function of (seed, step, index) alone, so a run is reproducible and a resumed
run sees exactly the clips an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..io import Clip, open_clip
from .motion import MotionConfig, random_trajectory, render
from .sources import Source


@dataclass(frozen=True)
class DataConfig:
    frames: int = 6
    crop: int = 64                      # HR crop side in pixels
    hflip: bool = True                  # mirror half of the clips
    # Photos are first downscaled by a random factor in this range (never below what keeps a
    # margin for the motion): large photos otherwise give crops of almost featureless detail.
    photo_scale: tuple[float, float] = (0.25, 1.0)
    motion: MotionConfig = field(default_factory=MotionConfig)


class ClipDataset:
    """Draws (frames, 3, crop, crop) float32 clips in [0, 1] from the sources, uniformly."""

    def __init__(self, sources: list[Source], config: DataConfig) -> None:
        if not sources:
            raise ValueError("no training sources")
        self.sources, self.config = sources, config
        self._clips: dict[int, Clip] = {}
        # Decoded photos, as 8 bits per channel where that is exact: decoding a large PNG or JPEG for
        # every clip costs more than the UNet step on small crops.
        self._photos: dict[Path, torch.Tensor] = {}

    def sample(self, seed: int, step: int, index: int) -> torch.Tensor:
        return self.clip(np.random.default_rng([seed, step, index, 0]))

    def clip(self, rng: np.random.Generator) -> torch.Tensor:
        which = int(rng.integers(len(self.sources)))
        source = self.sources[which]
        out = self._video(which, rng) if source.kind == "video" else self._photo(source, rng)
        if self.config.hflip and rng.random() < 0.5:
            out = out.flip(-1)
        return out.contiguous()

    def _video(self, which: int, rng: np.random.Generator) -> torch.Tensor:
        cfg, source = self.config, self.sources[which]
        clip = self._clips.get(which)
        if clip is None:
            clip = self._clips[which] = open_clip(source.path)
        start = int(rng.integers(clip.num_frames - cfg.frames + 1))
        y = int(rng.integers(clip.height - cfg.crop + 1))
        x = int(rng.integers(clip.width - cfg.crop + 1))
        frames = [f[y:y + cfg.crop, x:x + cfg.crop] for f in clip.frames(start, start + cfg.frames)]
        return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).clamp(0, 1)

    def _decoded(self, path: Path) -> torch.Tensor:
        cached = self._photos.get(path)
        if cached is None:
            frame = torch.from_numpy(next(open_clip(path).frames())).permute(2, 0, 1).clamp(0, 1)
            as_u8 = (frame * 255.0).round()
            exact = torch.equal(as_u8 / 255.0, frame)
            cached = self._photos[path] = as_u8.to(torch.uint8) if exact else frame
        return cached.float() / 255.0 if cached.dtype == torch.uint8 else cached

    def _photo(self, source: Source, rng: np.random.Generator) -> torch.Tensor:
        cfg = self.config
        photo = self._decoded(source.path)
        side = min(photo.shape[1:])
        # Keep room for the crop's rotated footprint and some pan.
        lowest = min(1.0, 1.6 * cfg.crop / side)
        lo, hi = max(cfg.photo_scale[0], lowest), max(cfg.photo_scale[1], lowest)
        factor = float(rng.uniform(lo, hi))
        if factor < 1.0:
            size = (max(round(photo.shape[1] * factor), cfg.crop),
                    max(round(photo.shape[2] * factor), cfg.crop))
            photo = F.interpolate(photo[None], size=size, mode="bicubic", antialias=True,
                                  align_corners=False)[0].clamp(0, 1)
        traj = random_trajectory(rng, cfg.frames, cfg.crop, photo.shape[1], photo.shape[2], cfg.motion)
        return render(photo, traj, cfg.crop)
