"""Synthetic camera motion over a still photograph: pan, zoom and a little rotation.

A clip of T frames is rendered from one photo by a smooth affine trajectory: each parameter
(pan x/y in pixels, log-zoom, rotation) moves with a random velocity and a small constant
acceleration, so consecutive frames differ by a nearly constant small transform, as a
handheld or slowly moving camera gives. Frames are resampled with bicubic `grid_sample`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class MotionConfig:
    max_pan: float = 3.0        # HR pixels per frame, each axis
    max_zoom: float = 0.01      # log-scale change per frame (1% zoom in or out)
    max_rotation: float = 0.3   # degrees per frame
    acceleration: float = 0.3   # velocity change over the clip, as a fraction of the maximum velocity


@dataclass(frozen=True)
class Trajectory:
    """Per-frame camera parameters: centre in photo pixels, zoom factor, rotation in radians."""

    cx: np.ndarray
    cy: np.ndarray
    zoom: np.ndarray
    angle: np.ndarray


def _path(rng: np.random.Generator, frames: int, vmax: float, accel: float) -> np.ndarray:
    """0 at the first frame, then v k + a k^2 / 2: a smooth random path."""
    k = np.arange(frames, dtype=np.float64)
    v = rng.uniform(-vmax, vmax)
    a = rng.uniform(-1.0, 1.0) * accel * vmax / max(frames - 1, 1)
    return v * k + 0.5 * a * k * k


def random_trajectory(rng: np.random.Generator, frames: int, crop: int, height: int, width: int,
                      config: MotionConfig = MotionConfig()) -> Trajectory:
    """A trajectory whose every frame (a `crop` square, rotated and zoomed) stays inside the photo."""
    pan_x = _path(rng, frames, config.max_pan, config.acceleration)
    pan_y = _path(rng, frames, config.max_pan, config.acceleration)
    zoom = np.exp(_path(rng, frames, config.max_zoom, config.acceleration))
    angle = np.deg2rad(_path(rng, frames, config.max_rotation, config.acceleration))
    # Half-extent of a frame's footprint in the photo: the crop's half-diagonal when rotated.
    rotated = np.abs(np.cos(angle)) + np.abs(np.sin(angle))
    half = crop / 2 * rotated / zoom
    margin_x = (width - 1) / 2 - (np.ptp(pan_x) / 2 + half.max())
    margin_y = (height - 1) / 2 - (np.ptp(pan_y) / 2 + half.max())
    if min(margin_x, margin_y) < 0:
        # The photo is too small for this much motion: shrink the pan until it fits (zoom and
        # rotation are small by construction; reflection padding covers any remainder).
        shrink = np.clip([(width - 1 - 2 * half.max()) / max(np.ptp(pan_x), 1e-9),
                          (height - 1 - 2 * half.max()) / max(np.ptp(pan_y), 1e-9)], 0.0, 1.0)
        pan_x, pan_y = pan_x * shrink[0], pan_y * shrink[1]
        margin_x = max((width - 1) / 2 - (np.ptp(pan_x) / 2 + half.max()), 0.0)
        margin_y = max((height - 1) / 2 - (np.ptp(pan_y) / 2 + half.max()), 0.0)
    # Centre the path's bounding box at a random point that keeps it inside.
    mid_x = (width - 1) / 2 + rng.uniform(-margin_x, margin_x)
    mid_y = (height - 1) / 2 + rng.uniform(-margin_y, margin_y)
    cx = mid_x + pan_x - (pan_x.max() + pan_x.min()) / 2
    cy = mid_y + pan_y - (pan_y.max() + pan_y.min()) / 2
    return Trajectory(cx, cy, zoom, angle)


def render(photo: torch.Tensor, traj: Trajectory, crop: int) -> torch.Tensor:
    """(3, H, W) photo in [0, 1] -> (T, 3, crop, crop): frame k seen through the trajectory."""
    _, height, width = photo.shape
    frames = len(traj.cx)
    offs = torch.arange(crop, dtype=torch.float64) - (crop - 1) / 2  # pixel offsets from the centre
    v, u = torch.meshgrid(offs, offs, indexing="ij")
    grids = []
    for k in range(frames):
        c, s, z = math.cos(traj.angle[k]), math.sin(traj.angle[k]), float(traj.zoom[k])
        px = traj.cx[k] + (c * u - s * v) / z
        py = traj.cy[k] + (s * u + c * v) / z
        # align_corners=False: pixel index p maps to (2p + 1) / size - 1.
        grids.append(torch.stack([(2 * px + 1) / width - 1, (2 * py + 1) / height - 1], dim=-1))
    grid = torch.stack(grids).to(photo.dtype)
    src = photo[None].expand(frames, -1, -1, -1)
    out = F.grid_sample(src, grid, mode="bicubic", padding_mode="reflection", align_corners=False)
    return out.clamp(0.0, 1.0)
