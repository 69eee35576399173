"""Making the LR input from a ground-truth clip, and the classical upscalers it is compared with.

Clips here are (T, H, W, 3) float32 RGB arrays in [0, 1].

- Clean degradation: PIL's antialiased bicubic resize (a = -0.5, the kernel stretched by the
  scale, like MATLAB's imresize) of each channel in 32-bit float, by an integer factor.
- Bicubic baseline ("LR-bicubic"): torch's bicubic interpolation (a = -0.75, align_corners False),
  clipped to [0, 1]: exactly the upscale the sampler conditions its VAE latent on.
- Lanczos baseline: PIL's Lanczos-3 resize of each channel in float, clipped to [0, 1].
- Nearest: pixel repetition (a floor for the tests).
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def _check(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected a (T, H, W, 3) clip, got shape {frames.shape}")
    return frames


def _pil_resize(frames: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """Resize every channel of every frame to size (width, height) with PIL in 32-bit float."""
    out = np.empty((frames.shape[0], size[1], size[0], 3), dtype=np.float32)
    for t, frame in enumerate(frames):
        for c in range(3):
            channel = Image.fromarray(np.ascontiguousarray(frame[..., c]))  # mode "F"
            out[t, ..., c] = np.asarray(channel.resize(size, resample), dtype=np.float32)
    return out


def crop_to_multiple(frames: np.ndarray, scale: int) -> np.ndarray:
    """Drop the last rows and columns so both sides are multiples of `scale`."""
    h, w = frames.shape[1:3]
    return frames[:, : h - h % scale, : w - w % scale]


def downscale_clean(frames: np.ndarray, scale: int) -> np.ndarray:
    """Antialiased bicubic downscale by the integer `scale` (sides must be multiples of it)."""
    frames = _check(frames)
    h, w = frames.shape[1:3]
    if h % scale or w % scale:
        raise ValueError(f"{w}x{h} is not a multiple of the scale {scale}")
    return np.clip(_pil_resize(frames, (w // scale, h // scale), Image.Resampling.BICUBIC), 0.0, 1.0)


def upscale_bicubic(frames: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic upscale as the sampler's conditioning does it (torch, a = -0.75), clipped."""
    import torch
    import torch.nn.functional as F

    frames = _check(frames)
    h, w = frames.shape[1:3]
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    up = F.interpolate(x, size=(h * scale, w * scale), mode="bicubic", align_corners=False).clamp(0, 1)
    return up.permute(0, 2, 3, 1).numpy()


def upscale_lanczos(frames: np.ndarray, scale: int) -> np.ndarray:
    """Lanczos-3 upscale (PIL, float), clipped to [0, 1]."""
    frames = _check(frames)
    h, w = frames.shape[1:3]
    return np.clip(_pil_resize(frames, (w * scale, h * scale), Image.Resampling.LANCZOS), 0.0, 1.0)


def upscale_nearest(frames: np.ndarray, scale: int) -> np.ndarray:
    """Every pixel repeated scale x scale times."""
    frames = _check(frames)
    return frames.repeat(scale, axis=1).repeat(scale, axis=2)


BASELINES = {"bicubic": upscale_bicubic, "lanczos": upscale_lanczos}
