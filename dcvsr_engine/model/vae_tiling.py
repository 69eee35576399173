"""Tiled encoding and decoding for SVD's VAE, so that a frame's cost is bounded by a tile, not the frame.

diffusers gives AutoencoderKLTemporalDecoder no tiling (its `enable_tiling` raises NotImplementedError:
the class has no `use_tiling`), and a whole 3840x2160 frame needs about 10 GB of decoder activations
with the tiny model's 32 channels (40 GB with SVD's 128), so it is written here.

What a tile changes, and what it does not:
- time: exact. The temporal decoder mixes the frames of one decode call (its temporal res-blocks and
  `time_conv_out` convolve along time, per pixel), so each tile is decoded with all the frames of the
  chunk and the same `num_frames`: frames mix as in a whole-frame decode. The encoder is per frame.
- space: approximate. A tile's convolutions see only the tile, and its GroupNorm statistics and the
  mid block's self-attention are the tile's, not the frame's. Tiles overlap by OVERLAP latent pixels
  and are blended with linear ramps across the overlap (weights normalised to sum to one), as
  diffusers' AutoencoderKL tiles. Measured on the tiny random VAE (tests/test_model_latent.py), a
  40x40-latent frame in 24-latent tiles against the whole frame: decoded (in [0, 1]) max abs
  difference 0.106, mean 0.0076; encoded (a smooth picture; latents of std 0.28) max 0.70, mean 0.054
  (64x64 in 32-latent tiles: 0.093 and 0.0063, 0.68 and 0.054).
  A trained VAE's difference is not measured here (none is on the test machine); a random one's
  GroupNorm statistics and attention vary across a frame as much as its noise does.

Only frames larger than one tile are tiled, so every frame up to a tile (the tiny model: 640x640
output pixels) is encoded and decoded exactly as a whole frame, bit for bit. The tile side comes from
memory: the largest multiple of 8 latent pixels whose decode needs at most TILE_BYTES per frame
(DECODE_BYTES_PER_CHANNEL, measured), and never below MIN_TILE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

DECODE_BYTES_PER_CHANNEL = 10 * 4  # live float32 decoder activations per first-level channel and pixel
ENCODE_BYTES_PER_CHANNEL = 5 * 4   # the encoder's, likewise
TILE_BYTES = 512 << 20  # decoder activations per frame of one tile
MIN_TILE = 32           # latent pixels: below this, the tile's borders would be most of it
OVERLAP = 16            # latent pixels neighbouring tiles share (25% of a 64-latent tile, as diffusers)


def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one axis: a stride of tile - overlap, the last tile flush with the end."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    starts.append(length - tile)
    return starts


def axis_weights(length: int, starts: list[int], tile: int, overlap: int) -> list[torch.Tensor]:
    """Each tile's blending weights along one axis, normalised so that they sum to one at every position:
    one inside, a linear ramp across an overlap with a neighbour (never zero: every position is covered)."""
    tile = min(tile, length)
    ramp = torch.arange(1, overlap + 1, dtype=torch.float64) / (overlap + 1)
    raw = []
    for s in starts:
        w = torch.ones(tile, dtype=torch.float64)
        if s > 0:
            w[:overlap] = ramp
        if s + tile < length:
            w[tile - overlap:] = ramp.flip(0)
        raw.append(w)
    total = torch.zeros(length, dtype=torch.float64)
    for s, w in zip(starts, raw, strict=True):
        total[s:s + tile] += w
    return [(w / total[s:s + tile]).float() for s, w in zip(starts, raw, strict=True)]


@dataclass(frozen=True)
class VAETiles:
    """Where a VAE works in tiles: `tile` latent pixels a side, neighbours sharing `overlap`."""

    tile: int
    overlap: int
    factor: int  # pixels per latent pixel

    @classmethod
    def for_vae(cls, vae) -> VAETiles:
        channels = int(vae.config.block_out_channels[0])
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        side = int((TILE_BYTES / (channels * DECODE_BYTES_PER_CHANNEL)) ** 0.5) // factor // 8 * 8
        return cls(max(MIN_TILE, side), OVERLAP, factor)

    def tiled(self, h: int, w: int) -> bool:
        """Whether an (h, w) latent is worked in tiles (larger than one tile along a side)."""
        return h > self.tile or w > self.tile

    def area(self, h: int, w: int) -> int:
        """Pixels of the largest piece of an (h, w) latent's frame encoded or decoded at once."""
        return min(h, self.tile) * min(w, self.tile) * self.factor ** 2

    def decode(self, decode: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        """decode (F, C, h, w) latents -> (F, 3, factor h, factor w), whole or tile by tile."""
        return self._run(decode, z, 1, self.factor)

    def encode(self, encode: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """encode (F, 3, H, W) frames -> (F, C, H / factor, W / factor), whole or tile by tile."""
        return self._run(encode, x, self.factor, 1)

    def _run(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, into: int,
             out_of: int) -> torch.Tensor:
        """fn over x in tiles placed on the latent grid: x has `into` pixels per latent pixel, fn's
        output `out_of`. The blend is in float32 whatever fn's dtype."""
        h, w = x.shape[-2] // into, x.shape[-1] // into
        if not self.tiled(h, w):
            return fn(x)
        ys, xs = axis_starts(h, self.tile, self.overlap), axis_starts(w, self.tile, self.overlap)
        th, tw = min(h, self.tile), min(w, self.tile)
        f = out_of
        wy = axis_weights(h * f, [y * f for y in ys], th * f, self.overlap * f)
        wx = axis_weights(w * f, [x * f for x in xs], tw * f, self.overlap * f)
        out = None
        for y, row in zip(ys, wy, strict=True):
            for x0, col in zip(xs, wx, strict=True):
                piece = fn(x[..., y * into:(y + th) * into, x0 * into:(x0 + tw) * into]).float()
                if out is None:
                    out = piece.new_zeros((*piece.shape[:-2], h * f, w * f))
                weight = row.to(piece.device)[:, None] * col.to(piece.device)[None, :]
                out[..., y * f:(y + th) * f, x0 * f:(x0 + tw) * f] += piece * weight
        assert out is not None
        return out
