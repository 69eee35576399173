"""Opening inputs as Clips: video files, image folders, single images, in-memory frames."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fractions import Fraction
from functools import partial
from os import PathLike
from pathlib import Path

import numpy as np
from dcvsr_protocol.errors import InputError

from .clip import Clip
from .colour import SRGB
from .image_source import open_images
from .images import is_image_path
from .validate import as_rgb_frame, check_min_side
from .video_source import open_video

DEFAULT_FPS = Fraction(24)
MIN_SIDE = 8


def as_fps(fps: Fraction | int | float | str) -> Fraction:
    """A positive frame rate as a Fraction ("30000/1001", 29.97 and 24 are all accepted)."""
    try:
        rate = Fraction(fps).limit_denominator(1_000_000) if isinstance(fps, float) else Fraction(fps)
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise InputError(f"frame rate {fps!r} is not a number") from exc
    if rate <= 0:
        raise InputError(f"frame rate must be positive, got {fps!r}")
    return rate


def open_clip(
    path: str | PathLike[str],
    *,
    min_side: int = MIN_SIDE,
    fps: Fraction | int | float | str | None = None,
    deinterlace: bool = False,
    upright: bool = True,
) -> Clip:
    """Open a video file, a folder of images or a single image.

    `fps` sets the rate of image inputs (default 24); a video always keeps its own rate.
    `deinterlace` rebuilds interlaced video frames from their fields (io/deinterlace.py).
    `upright` turns a video with a display rotation (phones) the way it is shown; without it the
    frames are the coded pixels, for an output that carries the rotation as its own tag.
    Raises InputError naming the path when the input is missing, empty, unreadable, holds
    images of different sizes, or has frames with a side shorter than `min_side`.
    """
    source = Path(path)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    if source.is_dir() or is_image_path(source):
        return open_images(source, min_side, as_fps(fps) if fps is not None else DEFAULT_FPS)
    return open_video(source, min_side, deinterlace, upright)


def clip_from_frames(
    frames: Sequence[np.ndarray], fps: Fraction | int | float | str = DEFAULT_FPS, *, min_side: int = MIN_SIDE
) -> Clip:
    """A Clip over in-memory frames, validated like files: non-empty, (H, W, 3), finite, one size.

    Frames are converted to float32 once (uint8 / uint16 are scaled to [0, 1]; float32 arrays
    are kept by reference, not copied); `frames()` yields copies, so consumers cannot alter the clip.
    """
    if len(frames) == 0:
        raise InputError("frames: the sequence is empty")
    checked = [as_rgb_frame(frame, f"frame {i}") for i, frame in enumerate(frames)]
    height, width = checked[0].shape[:2]
    for i, frame in enumerate(checked):
        if frame.shape[:2] != (height, width):
            raise InputError(
                f"frame {i}: size {frame.shape[1]}x{frame.shape[0]} differs from frame 0's {width}x{height}"
            )
    check_min_side(width, height, min_side, "frames")
    read = partial(_copies, tuple(checked))
    return Clip(len(checked), width, height, as_fps(fps), SRGB, None, "frames", read)


def _copies(frames: Sequence[np.ndarray], start: int, stop: int) -> Iterator[np.ndarray]:
    for frame in frames[start:stop]:
        yield frame.copy()
