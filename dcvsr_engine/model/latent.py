"""The latent space a model denoises in: declared by dcvsr.json's "latent" entry.

    {"kind": "vae"}                                          SVD's VAE (vae/ folder), the default
    {"kind": "space_to_depth", "factor": 4, "scale": 1.0}    a fixed, weightless pixel unshuffle
    {"kind": "space_to_depth", ..., "residual": true}        the same, of the HR minus the condition

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
    def decode(self, latents: torch.Tensor, chunk: int, condition: torch.Tensor) -> torch.Tensor:
        """(F, C, h, w) target-space latents and their condition latents -> (F, 3, factor h, factor w)
        float32 in [0, 1]."""


class VAELatent(LatentSpace):
    """SVD's VAE: the encoder's mode, unscaled for the condition and times scaling_factor for the target;
    the temporal decoder over chunks of frames."""

    kind = VAE_KIND

    def __init__(self, vae: Any, encode_chunk: int = 4):
        self.vae, self.encode_chunk = vae, encode_chunk
        self.factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.channels = int(vae.config.latent_channels)

    @torch.no_grad()
    def encode_condition(self, frames: torch.Tensor) -> torch.Tensor:
        vae, chunk = self.vae, self.encode_chunk
        param = next(vae.parameters())
        out = []
        for i in range(0, frames.shape[0], chunk):
            x = frames[i:i + chunk].to(param.device, param.dtype) * 2.0 - 1.0
            out.append(vae.encode(x).latent_dist.mode().float())
        return torch.cat(out)

    def encode_target(self, frames: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.encode_condition(frames) * self.vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, chunk: int, condition: torch.Tensor) -> torch.Tensor:
        vae = self.vae
        param = next(vae.parameters())
        out = []
        for i in range(0, latents.shape[0], chunk):
            z = latents[i:i + chunk].to(param.device, param.dtype) / vae.config.scaling_factor
            out.append(((vae.decode(z, num_frames=z.shape[0]).sample.float() + 1.0) / 2.0).clamp(0, 1))
        return torch.cat(out)


class SpaceToDepthLatent(LatentSpace):
    """A fixed invertible map: frames to [-1, 1], pixel-unshuffled by `factor` (3 factor^2 channels).

    The condition is that tensor (unscaled, as the VAE's condition is its unscaled mode); the target
    is it times `scale`, or with `residual` its difference from the condition times `scale`; decoding
    is the inverse, clamped to [0, 1]. No weights.
    """

    kind = SPACE_TO_DEPTH_KIND

    def __init__(self, factor: int = 4, scale: float = 1.0, shift: float = 0.0, residual: bool = False):
        if int(factor) != factor or factor < 1:
            raise ValueError(f"space_to_depth factor must be a positive integer, got {factor!r}")
        if not scale > 0:
            raise ValueError(f"space_to_depth scale must be positive, got {scale!r}")
        self.factor, self.scale, self.shift = int(factor), float(scale), float(shift)
        self.residual = bool(residual)
        self.channels = 3 * self.factor ** 2

    def _unshuffle(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.float() * 2.0 - 1.0 - self.shift
        return F.pixel_unshuffle(x, self.factor)

    def encode_condition(self, frames: torch.Tensor) -> torch.Tensor:
        return self._unshuffle(frames)

    def encode_target(self, frames: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        x = self._unshuffle(frames)
        return (x - condition.float() if self.residual else x) * self.scale

    def decode(self, latents: torch.Tensor, chunk: int, condition: torch.Tensor) -> torch.Tensor:
        x = latents.float() / self.scale
        x = F.pixel_shuffle(x + condition.float() if self.residual else x, self.factor) + self.shift
        return ((x + 1.0) / 2.0).clamp(0, 1)

