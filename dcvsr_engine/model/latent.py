"""The latent space a model denoises in: declared by dcvsr.json's "latent" entry.

    {"kind": "vae"}                                          SVD's VAE (vae/ folder), the default
    {"kind": "space_to_depth", "factor": 4, "scale": 1.0}    a fixed, weightless pixel unshuffle
    {"kind": "space_to_depth", ..., "residual": true}        the same, of the HR minus the condition
    {"kind": "space_to_depth", ..., "detail_gain": 8.0}      a condition the UNet can learn from faster

A LatentSpace maps frames (F, 3, H, W) in [0, 1] to latents (F, C, H/factor, W/factor) and back:
- encode_condition: the latent the sampler concatenates to the noisy latent (the LR bicubic upscale);
- encode_target: the latent training denoises towards (what the sampler's output decodes from);
- decode: latents back to frames in [0, 1], in chunks of `chunk` frames from the first.
encode_target and decode also take the condition latent of the same frames: a residual space
denoises only what the bicubic upscale lacks (as SR3 and ResShift do), so that a small model's
errors are in the detail it adds and never in the picture it was given.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
import torch.nn.functional as F

from .vae_tiling import VAETiles

VAE_KIND = "vae"
SPACE_TO_DEPTH_KIND = "space_to_depth"


class LatentSpace(ABC):
    kind: str
    factor: int    # pixels per latent pixel, per side
    channels: int  # latent channels

    @abstractmethod
    def encode_condition(self, frames: torch.Tensor) -> torch.Tensor:
        """(F, 3, H, W) in [0, 1] -> (F, C, H/factor, W/factor) float32: the conditioning latent."""

    @abstractmethod
    def encode_target(self, frames: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """(F, 3, H, W) in [0, 1] and their condition latents -> (F, C, H/factor, W/factor) float32: the
        latent the UNet denoises."""

    @abstractmethod
    def condition_target(self, condition: torch.Tensor) -> torch.Tensor:
        """The target-space latent that decodes to the condition's own picture (SDEdit's start)."""

    @abstractmethod
    def decode(self, latents: torch.Tensor, chunk: int, condition: torch.Tensor) -> torch.Tensor:
        """(F, C, h, w) target-space latents and their condition latents -> (F, 3, factor h, factor w)
        float32 in [0, 1]."""


class VAELatent(LatentSpace):
    """SVD's VAE: the encoder's mode, unscaled for the condition and times scaling_factor for the target;
    the temporal decoder over chunks of frames. Frames larger than a tile are encoded and decoded in
    tiles (`tiles`, vae_tiling.py), so their memory is a tile's, not a frame's."""

    kind = VAE_KIND

    def __init__(self, vae: Any, encode_chunk: int = 4):
        self.vae, self.encode_chunk = vae, encode_chunk
        self.factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.channels = int(vae.config.latent_channels)
        self.tiles = VAETiles.for_vae(vae)

    @torch.no_grad()
    def encode_condition(self, frames: torch.Tensor) -> torch.Tensor:
        vae, chunk = self.vae, self.encode_chunk
        param = next(vae.parameters())
        out = []
        for i in range(0, frames.shape[0], chunk):
            x = frames[i:i + chunk].to(param.device, param.dtype) * 2.0 - 1.0
            out.append(self.tiles.encode(lambda t: vae.encode(t).latent_dist.mode(), x).float())
        return torch.cat(out)

    def encode_target(self, frames: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.encode_condition(frames) * self.vae.config.scaling_factor

    def condition_target(self, condition: torch.Tensor) -> torch.Tensor:
        return condition.float() * self.vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, chunk: int, condition: torch.Tensor) -> torch.Tensor:
        vae = self.vae
        param = next(vae.parameters())
        out = []
        for i in range(0, latents.shape[0], chunk):
            z = latents[i:i + chunk].to(param.device, param.dtype) / vae.config.scaling_factor
            # every tile holds all the chunk's frames: the temporal decoder mixes them as it does whole
            frames = self.tiles.decode(lambda t: vae.decode(t, num_frames=t.shape[0]).sample, z)
            out.append(((frames.float() + 1.0) / 2.0).clamp(0, 1))
        return torch.cat(out)


class SpaceToDepthLatent(LatentSpace):
    """A fixed invertible map: frames to [-1, 1], pixel-unshuffled by `factor` (3 factor^2 channels).

    The condition is that tensor (unscaled, as the VAE's condition is its unscaled mode); the target
    is it times `scale`, or with `residual` its difference from the condition times `scale`; decoding
    is the inverse, clamped to [0, 1]. No weights.

    With `detail_gain` the condition is decorrelated, invertibly: per colour, the cell's mean and the
    deviations from it of all but its first pixel (they sum to zero), times `detail_gain`. Plain
    space-to-depth channels are nearly equal copies of the cell's mean, an ill-conditioned input that
    a small UNet learns to read slowly (a 3-layer CNN on 4x-bicubic conditions: no gain over bicubic
    in 400 steps plain, 5% lower MSE decorrelated).
    """

    kind = SPACE_TO_DEPTH_KIND

    def __init__(self, factor: int = 4, scale: float = 1.0, shift: float = 0.0, residual: bool = False,
                 detail_gain: float = 0.0):
        if int(factor) != factor or factor < 1:
            raise ValueError(f"space_to_depth factor must be a positive integer, got {factor!r}")
        if not scale > 0:
            raise ValueError(f"space_to_depth scale must be positive, got {scale!r}")
        self.factor, self.scale, self.shift = int(factor), float(scale), float(shift)
        self.residual, self.detail_gain = bool(residual), float(detail_gain)
        self.channels = 3 * self.factor ** 2

    def _unshuffle(self, frames: torch.Tensor) -> torch.Tensor:
        x = (frames.float() * 2.0).sub_(1.0).sub_(self.shift)  # in place: one frame-sized temporary
        return F.pixel_unshuffle(x, self.factor)

    def encode_condition(self, frames: torch.Tensor) -> torch.Tensor:
        x = self._unshuffle(frames)
        if not self.detail_gain:
            return x
        cells = x.unflatten(1, (3, self.factor ** 2))  # pixel_unshuffle orders channels colour-major
        mean = cells.mean(2, keepdim=True)
        return torch.cat([mean, (cells[:, :, 1:] - mean) * self.detail_gain], 2).flatten(1, 2)

    def _plain(self, condition: torch.Tensor) -> torch.Tensor:
        """The space-to-depth tensor a condition was made from."""
        if not self.detail_gain:
            return condition.float()
        cells = condition.float().unflatten(1, (3, self.factor ** 2))
        mean, rest = cells[:, :, :1], cells[:, :, 1:] / self.detail_gain
        first = -rest.sum(2, keepdim=True)
        return (torch.cat([first, rest], 2) + mean).flatten(1, 2)

    def encode_target(self, frames: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        x = self._unshuffle(frames)
        return (x - self._plain(condition) if self.residual else x) * self.scale

    def condition_target(self, condition: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(condition.float()) if self.residual else self._plain(condition) * self.scale

    def decode(self, latents: torch.Tensor, chunk: int, condition: torch.Tensor) -> torch.Tensor:
        x = latents.float() / self.scale
        if self.residual:
            x += self._plain(condition)
        # in place from here: a decode chunk's memory is a few copies of it, not one per operation
        return F.pixel_shuffle(x, self.factor).add_(self.shift).add_(1.0).div_(2.0).clamp_(0, 1)

