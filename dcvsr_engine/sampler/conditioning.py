"""From LR frames to what the UNet is conditioned on, and from latents back to frames.

- Geometry: the output size is the input size times the scale; the bicubic
  upscale is padded (mirrored, never stretched) to a size the VAE and the
  UNet's downsampling accept, and the output is cropped back.
- The LR latent `l`: bicubic upscale to the output size, refined by the
  model's restorer when it has one (model/restorer.py), then the model's
  latent space (model/latent.py). With SVD's VAE: the encoder, the
  distribution's mode, unscaled, as SVD's pipeline encodes its conditioning
  image (DC-VSR fine-tunes SVD, so the same convention is assumed).
- Image embeddings: SVD conditions its cross-attention on the CLIP embedding
  of one image; for VSR each LR frame gets its CLIP embedding and a window
  uses the mean over its frames (a choice: the paper does not say), so the
  embedding depends only on which frames a window holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from dcvsr_protocol.errors import InputError

MIN_INPUT_SIDE = 8  # pixels; smaller inputs carry too little to super-resolve


@dataclass(frozen=True)
class Geometry:
    in_h: int
    in_w: int
    out_h: int
    out_w: int
    pad_h: int      # padded output size, a multiple of `multiple`
    pad_w: int
    vae_factor: int  # pixels per latent pixel: the latent space's factor (the name predates other kinds)

    @property
    def latent_hw(self) -> tuple[int, int]:
        return self.pad_h // self.vae_factor, self.pad_w // self.vae_factor


def geometry(in_h: int, in_w: int, scale: float, vae_factor: int, unet_multiple: int) -> Geometry:
    if min(in_h, in_w) < MIN_INPUT_SIDE:
        raise InputError(f"frames of {in_w}x{in_h} are below the minimum of {MIN_INPUT_SIDE} pixels per side")
    out_h, out_w = round(in_h * scale), round(in_w * scale)
    multiple = vae_factor * unet_multiple
    pad_h, pad_w = -(-out_h // multiple) * multiple, -(-out_w // multiple) * multiple
    return Geometry(in_h, in_w, out_h, out_w, pad_h, pad_w, vae_factor)


def _mirror_index(size: int, padded: int, device: torch.device) -> torch.Tensor:
    """Indices 0..padded-1 mirrored back into 0..size-1 (repeatedly, for pads longer than the image)."""
    i = torch.arange(padded, device=device)
    if size == 1:
        return torch.zeros_like(i)
    period = 2 * (size - 1)
    i = i % period
    return torch.where(i >= size, period - i, i)


def upscale_and_pad(frames: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """(F, 3, in_h, in_w) in [0, 1] -> (F, 3, pad_h, pad_w): bicubic to the output size, then mirrored."""
    up = F.interpolate(frames, size=(geo.out_h, geo.out_w), mode="bicubic", align_corners=False).clamp_(0, 1)
    if geo.pad_h > geo.out_h:  # an axis that needs no padding is not copied
        up = up[:, :, _mirror_index(geo.out_h, geo.pad_h, up.device)]
    if geo.pad_w > geo.out_w:
        up = up[:, :, :, _mirror_index(geo.out_w, geo.pad_w, up.device)]
    return up


def condition_frames(model, lr: torch.Tensor, geo: Geometry, footage: str) -> torch.Tensor:
    """What the latent space encodes as the condition: the padded bicubic upscale, refined by the model's
    restorer (the bank for `footage`) when it has one."""
    up = upscale_and_pad(lr, geo)
    return up if model.restorer is None else model.restorer.apply(up, footage, geo.out_w / geo.in_w)


CONDITION_CHUNK = 4  # frames upscaled and encoded at once (SVD's VAE encodes 4 at a time too)


@torch.no_grad()
def condition_chunks(model, lr: torch.Tensor, geo: Geometry, footage: str) -> Iterator[torch.Tensor]:
    """condition_frames of (F, 3, in_h, in_w) LR frames, a chunk of frames at a time: only one chunk's
    upscale (output-sized, float32) exists at once, not the whole segment's."""
    chunk = getattr(model.latent, "encode_chunk", CONDITION_CHUNK)
    for i in range(0, lr.shape[0], chunk):
        yield condition_frames(model, lr[i:i + chunk], geo, footage)


def encode_condition(model, lr: torch.Tensor, geo: Geometry, footage: str,
                     each: Callable[[torch.Tensor], None] | None = None) -> torch.Tensor:
    """(F, 3, in_h, in_w) LR frames -> their condition latents, a chunk of frames at a time, each written
    into the result (no second segment-sized copy, as joining the chunks would make). `each` sees every
    chunk of condition frames before it is encoded (noise.py's Stillness)."""
    out, done = None, 0
    for chunk in condition_chunks(model, lr, geo, footage):
        if each is not None:
            each(chunk)
        latent = model.latent.encode_condition(chunk)
        if out is None:
            out = latent.new_empty((lr.shape[0], *latent.shape[1:]))
        out[done:done + latent.shape[0]] = latent
        done += latent.shape[0]
    return out


@torch.no_grad()
def image_embeddings(model, frames: torch.Tensor, chunk: int = 8) -> torch.Tensor:
    """(F, 3, h, w) LR frames in [0, 1] -> (F, D) image embeddings, float32."""
    unet = model.unet
    if model.image_encoder is None:
        return torch.zeros(frames.shape[0], unet.config.cross_attention_dim, device=frames.device)
    enc = model.image_encoder
    param = next(enc.parameters())
    mean = torch.tensor(model.image_mean, device=frames.device).view(1, 3, 1, 1)
    std = torch.tensor(model.image_std, device=frames.device).view(1, 3, 1, 1)
    size = model.image_size
    out = []
    for i in range(0, frames.shape[0], chunk):
        x = F.interpolate(frames[i:i + chunk], size=(size, size), mode="bicubic", align_corners=False,
                          antialias=True).clamp(0, 1)
        x = ((x - mean) / std).to(param.device, param.dtype)
        out.append(enc(pixel_values=x).image_embeds.float())
    return torch.cat(out)
