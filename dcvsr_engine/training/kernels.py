"""Blur kernels of the Real-ESRGAN kind: isotropic and anisotropic (rotated) Gaussians."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float) -> torch.Tensor:
    """A normalised (size, size) Gaussian with axis sigmas (pixels) rotated by theta (radians)."""
    r = (size - 1) / 2
    ax = torch.arange(size, dtype=torch.float64) - r
    y, x = torch.meshgrid(ax, ax, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * x + s * y, -s * x + c * y  # coordinates along the kernel's own axes
    k = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (k / k.sum()).float()


def blur(frames: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """(T, C, H, W) frames, (T, k, k) kernels (one per frame) -> blurred frames, reflect-padded."""
    t, c, h, w = frames.shape
    k = kernels.shape[-1]
    pad = k // 2
    # Reflection needs the pad to be smaller than the image; replicate covers tiny LR crops.
    mode = "reflect" if pad < min(h, w) else "replicate"
    x = F.pad(frames.reshape(1, t * c, h, w), (pad, pad, pad, pad), mode=mode)
    weight = kernels.to(frames.dtype).repeat_interleave(c, dim=0)[:, None]
    return F.conv2d(x, weight, groups=t * c).reshape(t, c, h, w)
