"""The Clip: a sized, lazily decoded sequence of RGB frames."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from dcvsr_protocol.colour import ColourTags
from dcvsr_protocol.errors import InputError

# (start, stop) -> frames start..stop-1; validated by Clip.frames before it is called.
FrameRange = Callable[[int, int], Iterator[np.ndarray]]


@dataclass(frozen=True)
class Clip:
    """Frames are float32 (height, width, 3) RGB, display-referred, nominally in [0, 1].

    `kind` is "video", "images" or "frames" (built in memory by `clip_from_frames`);
    `source` is the file or folder read, None for in-memory clips.
    """

    num_frames: int
    width: int
    height: int
    fps: Fraction
    colour: ColourTags
    source: Path | None
    kind: str
    _read: FrameRange = field(repr=False, compare=False)

    def __len__(self) -> int:
        return self.num_frames

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Decode frames start..stop-1 in order, one at a time; each call starts afresh."""
        stop = self.num_frames if stop is None else stop
        if not 0 <= start <= stop <= self.num_frames:
            where = self.source if self.source is not None else "clip"
            raise InputError(
                f"{where}: frame range {start}..{stop} is outside the clip's {self.num_frames} frames"
            )
        return self._read(start, stop)
