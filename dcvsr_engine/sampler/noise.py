"""Initial noise as a function of (seed, frame index, latent position).

The frame index counts from the first frame of the frame's shot (the clip's start or its last cut,
segments.py), so a shot gets the same noise whatever comes before it.

Noise never depends on the order in which tiles, windows, segments or requests
are processed, nor on the size of the clip: the latent plane is cut into fixed
blocks, and each block's noise comes from its own generator seeded by
(seed, frame, block row, block column). Generated on the CPU so every device
starts from the same numbers. With static noise (the `static_noise` setting) a
frame's noise also draws on one clip-wide field where its condition does not
change from the neighbouring frame of its canonical segment: still a function
of the clip, never of the requests.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

import torch

BLOCK = 64  # latent pixels per noise block side


def _block_seed(seed: int, frame: int, by: int, bx: int) -> int:
    digest = hashlib.blake2b(f"dcvsr-noise:{seed}:{frame}:{by}:{bx}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def frame_noise(seed: int, frame: int, channels: int, height: int, width: int) -> torch.Tensor:
    """Unit Gaussian noise of shape (channels, height, width) for one frame, float32, on the CPU."""
    out = torch.empty(channels, height, width)
    gen = torch.Generator()
    for by in range(0, height, BLOCK):
        for bx in range(0, width, BLOCK):
            gen.manual_seed(_block_seed(seed, frame, by // BLOCK, bx // BLOCK))
            block = torch.randn(channels, BLOCK, BLOCK, generator=gen)
            h, w = min(BLOCK, height - by), min(BLOCK, width - bx)
            out[:, by:by + h, bx:bx + w] = block[:, :h, :w]
    return out


def clip_noise(seed: int, frames: range, channels: int, height: int, width: int) -> torch.Tensor:
    """Noise for consecutive frames: shape (len(frames), channels, height, width)."""
    return torch.stack([frame_noise(seed, f, channels, height, width) for f in frames])


SHARED_FRAME = -1  # the frame index of the clip-wide field that static noise draws from
STILL_SCALE = 0.02  # mean absolute change of a latent cell's condition (0..1 pixels) that halves stillness


def stillness(condition: Iterable[torch.Tensor], factor: int) -> torch.Tensor:
    """Condition frames (the restored upscale), given as consecutive (f, 3, H, W) chunks, -> (F, 1,
    H/factor, W/factor) in (0, 1]: how little each latent cell changes from the previous frame (the
    first frame: from the next), 1 where nothing changes. Measured on the condition, so noise in
    degraded input does not count as change."""
    cells, previous = [], None
    for chunk in condition:
        frames = chunk if previous is None else torch.cat([previous, chunk])
        if frames.shape[0] > 1:
            change = (frames[1:] - frames[:-1]).abs().mean(1, keepdim=True)
            cells.append(torch.nn.functional.avg_pool2d(change, factor))
        previous = chunk[-1:]
    if not cells:  # a single frame: nothing moves
        h, w = previous.shape[-2] // factor, previous.shape[-1] // factor
        return torch.ones(1, 1, h, w)
    cell = torch.cat(cells)
    cell = torch.cat([cell[:1], cell])
    return torch.exp(-math.log(2.0) * (cell / STILL_SCALE) ** 2)


def static_noise(noise: torch.Tensor, seed: int, still: torch.Tensor, share: float) -> torch.Tensor:
    """Per-frame unit noise (F, C, h, w) with `share` x stillness of it drawn from one clip-wide field
    (the same in every frame), the rest from each frame's own; variance stays 1 everywhere. Where the
    picture stands still, frames then start from the same noise and come out alike (no flicker)."""
    if share <= 0.0:
        return noise
    shared = frame_noise(seed, SHARED_FRAME, noise.shape[1], noise.shape[2], noise.shape[3])
    w = (share * still).to(noise.dtype)
    return w * shared.to(noise.device) + torch.sqrt(1.0 - w * w) * noise
