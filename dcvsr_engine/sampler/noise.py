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

import torch

BLOCK = 64  # latent pixels per noise block side


def _block_seed(seed: int, frame: int, by: int, bx: int) -> int:
    digest = hashlib.blake2b(f"dcvsr-noise:{seed}:{frame}:{by}:{bx}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def frame_noise(seed: int, frame: int, channels: int, height: int, width: int,
                out: torch.Tensor | None = None) -> torch.Tensor:
    """Unit Gaussian noise of shape (channels, height, width) for one frame, float32, on the CPU (written
    into `out` when given)."""
    out = torch.empty(channels, height, width) if out is None else out
    gen = torch.Generator()
    for by in range(0, height, BLOCK):
        for bx in range(0, width, BLOCK):
            gen.manual_seed(_block_seed(seed, frame, by // BLOCK, bx // BLOCK))
            block = torch.randn(channels, BLOCK, BLOCK, generator=gen)
            h, w = min(BLOCK, height - by), min(BLOCK, width - bx)
            out[:, by:by + h, bx:bx + w] = block[:, :h, :w]
    return out


def clip_noise(seed: int, frames: range, channels: int, height: int, width: int) -> torch.Tensor:
    """Noise for consecutive frames: shape (len(frames), channels, height, width), written in place (a
    segment's noise is as large as its latent: no second copy while it is made)."""
    out = torch.empty(len(frames), channels, height, width)
    for i, f in enumerate(frames):
        frame_noise(seed, f, channels, height, width, out[i])
    return out


SHARED_FRAME = -1  # the frame index of the clip-wide field that static noise draws from
STILL_SCALE = 0.02  # mean absolute change of a latent cell's condition (0..1 pixels) that halves stillness


class Stillness:
    """How little each latent cell of the condition changes from the previous frame (the first frame:
    from the next), measured on the condition frames (the restored upscale) as the encoder takes them
    chunk by chunk (`add`), so the restorer runs once per frame. Measured on the condition, so noise in
    degraded input does not count as change."""

    def __init__(self, factor: int):
        self.factor = factor
        self._cells: list[torch.Tensor] = []
        self._previous: torch.Tensor | None = None

    def add(self, chunk: torch.Tensor) -> None:
        """The next consecutive (f, 3, H, W) condition frames."""
        frames = chunk if self._previous is None else torch.cat([self._previous, chunk])
        if frames.shape[0] > 1:
            change = (frames[1:] - frames[:-1]).abs().mean(1, keepdim=True)
            self._cells.append(torch.nn.functional.avg_pool2d(change, self.factor))
        self._previous = chunk[-1:].clone()  # not a view: the chunk itself can be freed

    def result(self) -> torch.Tensor:
        """(F, 1, H/factor, W/factor) in (0, 1]: 1 where nothing changes."""
        if not self._cells:  # a single frame: nothing moves
            h, w = self._previous.shape[-2] // self.factor, self._previous.shape[-1] // self.factor
            return torch.ones(1, 1, h, w)
        cell = torch.cat(self._cells)
        cell = torch.cat([cell[:1], cell])
        return torch.exp(-math.log(2.0) * (cell / STILL_SCALE) ** 2)


def static_noise(noise: torch.Tensor, seed: int, still: torch.Tensor, share: float) -> torch.Tensor:
    """Per-frame unit noise (F, C, h, w) with `share` x stillness of it drawn from one clip-wide field
    (the same in every frame), the rest from each frame's own; variance stays 1 everywhere. Where the
    picture stands still, frames then start from the same noise and come out alike (no flicker).
    Mixed into `noise` in place: no latent-sized temporaries."""
    if share <= 0.0:
        return noise
    shared = frame_noise(seed, SHARED_FRAME, noise.shape[1], noise.shape[2], noise.shape[3])
    w = (share * still).to(noise.device, noise.dtype)
    shared = shared.to(noise.device)
    for frame, weight in zip(noise, w, strict=True):  # one frame at a time: no latent-sized temporaries
        frame.mul_(torch.sqrt(1.0 - weight * weight)).add_(weight * shared)
    return noise
