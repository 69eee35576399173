"""Chroma resampling for 4:2:0 / 4:2:2 / 4:4:0 planes.

Siting follows the MPEG-2 / H.264 default ("left"): chroma is co-sited with the even luma
columns and sits midway between luma rows. Linear interpolation up, the matching
[1 2 1] / [1 1] filters down, edges replicated.
"""

from __future__ import annotations

import numpy as np


def upsample(plane: np.ndarray, fx: int, fy: int, width: int, height: int) -> np.ndarray:
    """Float chroma plane -> (height, width), for subsampling factors fx, fy in {1, 2}."""
    out = plane
    if fx == 2:
        nxt = np.concatenate([out[:, 1:], out[:, -1:]], axis=1)
        out = np.stack([out, 0.5 * (out + nxt)], axis=2).reshape(out.shape[0], -1)
    if fy == 2:
        prev = np.concatenate([out[:1], out[:-1]], axis=0)
        nxt = np.concatenate([out[1:], out[-1:]], axis=0)
        out = np.stack([0.75 * out + 0.25 * prev, 0.75 * out + 0.25 * nxt], axis=1).reshape(-1, out.shape[1])
    return np.ascontiguousarray(out[:height, :width])


def downsample(plane: np.ndarray, fx: int, fy: int) -> np.ndarray:
    """Full-resolution float plane -> chroma plane of size ceil(h / fy) x ceil(w / fx)."""
    out = plane
    if fy == 2:
        if out.shape[0] % 2:
            out = np.concatenate([out, out[-1:]], axis=0)
        out = 0.5 * (out[0::2] + out[1::2])
    if fx == 2:
        padded = np.concatenate([out[:, :1], out, out[:, -1:], out[:, -1:]], axis=1)
        n = (plane.shape[1] + 1) // 2
        left, mid, right = (
            padded[:, 0 : 2 * n : 2],
            padded[:, 1 : 2 * n + 1 : 2],
            padded[:, 2 : 2 * n + 2 : 2],
        )
        out = 0.25 * left + 0.5 * mid + 0.25 * right
    return out.astype(np.float32, copy=False)
