"""A renderer without a model: nearest-neighbour upscaling by an integer scale, in numpy.

It reads a window of neighbours like a temporal model does (so the server's
"ask the client for source frames" path is exercised) and, with blend=True,
averages them (never across a cut), so a wrong neighbour shows in the pixels.
Used by the tests and the transport benchmark.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import fields

import numpy as np
from dcvsr_protocol.errors import SettingsError
from dcvsr_protocol.settings import Settings

from .renderer import CancelledFn, ClipSpec, ProgressFn, Renderer, RenderSession, SourceFn

_DCVSR_SETTINGS = frozenset(f.name for f in fields(Settings))


def _int_setting(settings: dict, name: str, default: int, low: int, high: int) -> int:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise SettingsError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise SettingsError(f"{name} must be in {low}..{high}, got {value!r}")
    return int(value)


class NoOpRenderer(Renderer):
    """Settings: scale (integer 1..8, default 2), radius (neighbours each side, 0..8, default 2),
    blend (average the window, default False). Other DC-VSR setting names are accepted and ignored."""

    name = "noop"

    def open(self, spec: ClipSpec) -> NoOpSession:
        settings = dict(spec.settings)
        unknown = sorted(set(settings) - _DCVSR_SETTINGS - {"radius", "blend"})
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
        scale = _int_setting(settings, "scale", 2, 1, 8)
        radius = _int_setting(settings, "radius", 2, 0, 8)
        blend = settings.get("blend", False)
        if not isinstance(blend, bool):
            raise SettingsError(f"blend must be true or false, got {blend!r}")
        return NoOpSession(spec, scale, radius, blend)


class NoOpSession(RenderSession):
    def __init__(self, spec: ClipSpec, scale: int, radius: int, blend: bool) -> None:
        self.spec = spec
        self.scale = scale
        self.radius = radius
        self.blend = blend
        self.out_size = (spec.width * scale, spec.height * scale)
        self.source_window = 2 * radius + 1
        self._bounds = [0, *spec.cuts, spec.frames]

    def sources_needed(self, start: int, stop: int) -> range:
        return range(max(0, start - self.radius), min(self.spec.frames, stop + self.radius))

    def _window(self, i: int) -> range:
        k = bisect.bisect_right(self._bounds, i)  # the scene holding i: bounds[k-1] <= i < bounds[k]
        lo, hi = self._bounds[k - 1], self._bounds[k]
        return range(max(lo, i - self.radius), min(hi, i + self.radius + 1))

    def render(self, start: int, stop: int, sources: SourceFn, progress: ProgressFn,
               cancelled: CancelledFn) -> Iterator[tuple[int, np.ndarray]]:
        for i in range(start, stop):
            if cancelled():
                return
            window = [sources(j) for j in self._window(i)]
            if self.blend and len(window) > 1:
                acc = np.zeros(window[0].shape, np.float32)
                for frame in window:  # a fixed order: the same sum whatever the request order
                    acc += frame
                acc /= len(window)
                base = _cast(acc, window[0].dtype)
            else:
                base = window[i - self._window(i).start]
            progress(i - start + 1, stop - start)
            yield i, upscale(base, self.scale)


def _cast(acc: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return np.clip(np.rint(acc), info.min, info.max).astype(dtype)
    return acc.astype(dtype)


def upscale(frame: np.ndarray, scale: int) -> np.ndarray | Callable[[np.ndarray], None]:
    """Nearest-neighbour upscale of an (H, W, C) frame: the frame itself at scale 1, else a writer
    that fills the output buffer it is given in one broadcast copy."""
    if scale == 1:
        return frame

    def write(dst: np.ndarray) -> None:
        h, w, c = frame.shape
        dst.reshape(h, scale, w, scale, c)[...] = frame[:, None, :, None, :]

    return write
