"""A folder of numbered images (or one image) -> Clip."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fractions import Fraction
from functools import partial
from pathlib import Path

import numpy as np
from dcvsr_protocol.errors import InputError

from .clip import Clip
from .colour import SRGB
from .images import IMAGE_EXTENSIONS, image_size, is_image_path, read_image
from .natural import natural_key
from .validate import check_finite, check_min_side


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder`, hidden files skipped, in natural order."""
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise InputError(f"{folder}: cannot list the folder ({exc})") from exc
    files = [p for p in entries if is_image_path(p) and not p.name.startswith(".") and p.is_file()]
    return sorted(files, key=natural_key)


def open_images(path: Path, min_side: int, fps: Fraction) -> Clip:
    """Every image must have the size of the first; the first that differs is named."""
    files = list_images(path) if path.is_dir() else [path]
    if not files:
        raise InputError(f"{path}: the folder holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    width, height = image_size(files[0])
    for file in files[1:]:
        size = image_size(file)
        if size != (width, height):
            raise InputError(
                f"{file}: image is {size[0]}x{size[1]} but {files[0].name} is {width}x{height}; "
                "all images in the folder must have the same size"
            )
    check_min_side(width, height, min_side, str(path))
    read = partial(_read_range, tuple(files), (height, width))
    return Clip(len(files), width, height, fps, SRGB, path, "images", read)


def _read_range(files: Sequence[Path], shape: tuple[int, int], start: int, stop: int) -> Iterator[np.ndarray]:
    for file in files[start:stop]:
        frame = read_image(file)
        if frame.shape[:2] != shape:  # the header said otherwise, or the file changed since
            raise InputError(
                f"{file}: image is {frame.shape[1]}x{frame.shape[0]}, expected {shape[1]}x{shape[0]}"
            )
        check_finite(frame, str(file))
        yield frame
