"""Checks that protect the input and the user before a long job: the output is not the input, and
a video holds the frames its header announces."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from dcvsr_protocol.errors import InputError, OutputError

# A container's duration is rounded; fewer frames than announced by more than this is a truncated file.
TRUNCATION_TOLERANCE = 1


def check_not_input(source: str | os.PathLike, output: str | os.PathLike) -> None:
    """Refuse an output that is the input (the same file or folder, by any path or link), whatever
    overwriting allows: the source would be replaced by its own upscale."""
    src, dst = Path(source), Path(output)
    same = src.resolve() == dst.resolve()
    if not same and dst.exists():
        try:
            same = os.path.samefile(src, dst)
        except OSError:
            same = False
    if same:
        raise OutputError(f"{output} is the input {source}; not replacing the source (choose another output)")


def announced_frames(path: str | os.PathLike, fps: Fraction) -> int | None:
    """The frame count a video's header announces (its stream's frame count, else its duration times
    the frame rate), or None if it announces none."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            if container.duration:
                return round(Fraction(container.duration, av.time_base) * fps)
    except (av.FFmpegError, OSError, IndexError):
        return None
    return None


def truncation(path: str | os.PathLike, frames: int, fps: Fraction, stamps: np.ndarray | None) -> str | None:
    """What is wrong when a video holds fewer frames than its header announces, else None.

    `stamps` are the frames' timestamps (probe.py). The header's duration is compared with frames at
    the nominal rate, which misreads a video that starts after zero or has a variable rate: those are
    left to the decoder (None).
    """
    if stamps is None or stamps[0] != 0:
        return None
    steps = np.diff(stamps)
    if len(steps) and steps.max() - steps.min() > 1:  # one tick of rounding (Matroska's milliseconds)
        return None
    announced = announced_frames(path, fps)
    if announced is None or frames >= announced - TRUNCATION_TOLERANCE:
        return None
    return (f"{path}: the video ends after frame {frames - 1} ({frames} of the {announced} frames its header "
            "announces): the file is truncated or damaged")


def check_truncation(path: str | os.PathLike, frames: int, fps: Fraction, stamps: np.ndarray | None,
                     allowed: bool) -> str | None:
    """Refuse a truncated video (InputError), or with `allowed` return the warning to print."""
    damage = truncation(path, frames, fps, stamps)
    if damage and not allowed:
        raise InputError(f"{damage}; --allow-truncated upscales the frames it holds")
    return f"{damage}; upscaling the {frames} frames it holds" if damage else None
