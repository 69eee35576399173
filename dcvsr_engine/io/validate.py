"""Checks shared by the readers and the writer: frame shape, size and finiteness."""

from __future__ import annotations

import numpy as np
from dcvsr_protocol.errors import InputError


def check_min_side(width: int, height: int, min_side: int, where: str) -> None:
    """Reject frames whose shorter side is below `min_side` pixels."""
    if min(width, height) < min_side:
        raise InputError(
            f"{where}: frames are {width}x{height}, smaller than the minimum side of {min_side} pixels"
        )


def check_finite(frame: np.ndarray, where: str) -> None:
    if not np.isfinite(frame).all():
        raise InputError(f"{where}: contains NaN or infinite values")


def as_rgb_frame(frame: object, where: str) -> np.ndarray:
    """A finite (H, W, 3) float32 array from a float or 8/16-bit integer array.

    Integer frames are scaled by their type's maximum (uint8 / 255, uint16 / 65535) so
    callers can pass decoded images directly.
    """
    if not isinstance(frame, np.ndarray):
        raise InputError(f"{where}: expected a numpy array, got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InputError(f"{where}: expected shape (height, width, 3), got {frame.shape}")
    if frame.dtype == np.uint8 or frame.dtype == np.uint16:
        return frame.astype(np.float32) / float(np.iinfo(frame.dtype).max)
    if not np.issubdtype(frame.dtype, np.floating):
        raise InputError(f"{where}: expected float32 RGB values (or uint8/uint16), got dtype {frame.dtype}")
    out = frame.astype(np.float32, copy=False)
    check_finite(out, where)
    return out
