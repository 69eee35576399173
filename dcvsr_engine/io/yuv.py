"""Y'CbCr <-> R'G'B' in float32, with H.273 quantisation.

Done here in numpy rather than by swscale because swscale's fixed-point limited-range
expansion is off by up to ~1.5 code values at 8 bits (white 235 decodes to 254, not 255).
"""

from __future__ import annotations

import numpy as np

from .colour import MATRIX_YCGCO, luma_weights


def dequantize(plane: np.ndarray, bits: int, full_range: bool, chroma: bool) -> np.ndarray:
    """Integer samples -> float32: luma in [0, 1], chroma in [-0.5, 0.5] (H.273 equations)."""
    x = plane.astype(np.float32)
    if full_range:
        peak = float((1 << bits) - 1)
        return (x - (1 << (bits - 1))) / peak if chroma else x / peak
    scale = float(1 << (bits - 8))
    return (x - 128.0 * scale) / (224.0 * scale) if chroma else (x - 16.0 * scale) / (219.0 * scale)


def quantize(plane: np.ndarray, bits: int, full_range: bool, chroma: bool) -> np.ndarray:
    """Float samples -> rounded, clipped integers (uint8 up to 8 bits, else uint16)."""
    if full_range:
        peak = float((1 << bits) - 1)
        x = plane * peak + (1 << (bits - 1)) if chroma else plane * peak
    else:
        scale = float(1 << (bits - 8))
        x = (plane * 224.0 + 128.0) * scale if chroma else (plane * 219.0 + 16.0) * scale
    x = np.clip(np.rint(x), 0, (1 << bits) - 1)
    return x.astype(np.uint8 if bits <= 8 else np.uint16)


def ycbcr_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, matrix: int) -> np.ndarray:
    """Full-resolution float planes -> (H, W, 3) float32 RGB."""
    if matrix == MATRIX_YCGCO:
        t = y - cb
        return np.stack([t + cr, y + cb, t - cr], axis=-1).astype(np.float32, copy=False)
    kr, kb = luma_weights(matrix)
    kg = 1.0 - kr - kb
    r = y + (2.0 - 2.0 * kr) * cr
    b = y + (2.0 - 2.0 * kb) * cb
    g = (y - kr * r - kb * b) / kg
    return np.stack([r, g, b], axis=-1).astype(np.float32, copy=False)


def rgb_to_ycbcr(rgb: np.ndarray, matrix: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(H, W, 3) float RGB -> full-resolution float32 Y, Cb, Cr planes."""
    r, g, b = (rgb[..., i].astype(np.float32, copy=False) for i in range(3))
    if matrix == MATRIX_YCGCO:
        return 0.25 * (r + b) + 0.5 * g, 0.5 * g - 0.25 * (r + b), 0.5 * (r - b)
    kr, kb = luma_weights(matrix)
    y = kr * r + (1.0 - kr - kb) * g + kb * b
    return y, (b - y) / (2.0 - 2.0 * kb), (r - y) / (2.0 - 2.0 * kr)
