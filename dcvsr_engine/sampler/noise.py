"""Initial noise as a function of (seed, frame index, latent position).

The frame index counts from the first frame of the frame's shot (the clip's start or its last cut,
segments.py), so a shot gets the same noise whatever comes before it.

Noise never depends on the order in which tiles, windows, segments or requests
are processed, nor on the size of the clip: the latent plane is cut into fixed
blocks, and each block's noise comes from its own generator seeded by
(seed, frame, block row, block column). Generated on the CPU so every device
starts from the same numbers.
"""

from __future__ import annotations

import hashlib

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
