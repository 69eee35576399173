"""Canonical segments: how a clip is cut for streaming.

Segments depend only on the clip length, the settings and the cut list, never
on which frames a caller asks for, so every way of rendering a clip computes
the same segments. Inside a segment the paper's loop runs over all its
windows; a segment that continues a chain starts with `context` frames of the
previous segment, carried over (see carry.py), which is how TAP propagates
forward across the boundary. A cut (the first frame of a new shot) starts a
new chain: nothing is carried across it, and the initial noise counts frames
from the shot's first frame, so a shot renders the same whatever precedes it
(a clip without cuts is one shot starting at frame 0).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dcvsr_protocol.errors import InputError
from dcvsr_protocol.settings import Settings


@dataclass(frozen=True)
class Segment:
    index: int
    start: int      # first frame this segment outputs
    stop: int       # one past its last frame
    context: int    # carried frames before `start` (0: this segment starts a chain)
    shot: int = 0   # first frame of its shot (0 or a cut): noise counts frames from there

    @property
    def frames(self) -> int:
        return self.stop - self.start


def context_frames(settings: Settings) -> int:
    """Frames a segment shares with the previous one: the temporal overlap of two windows."""
    if not settings.tap:
        return 0
    stride = max(1, int(settings.tile_frames * (1.0 - settings.frame_overlap)))
    return max(0, settings.tile_frames - stride)


class Segments(Sequence[Segment]):
    """The canonical segments of a clip, computed on demand: memory grows with the cut list, not the
    clip length (a session of 2^24 frames holds a few numbers per shot, not a million objects)."""

    def __init__(self, num_frames: int, settings: Settings, cuts: Iterable[int] = ()) -> None:
        if num_frames < 1:
            raise InputError("the clip has no frames")
        cuts = sorted(set(cuts))
        bad = [c for c in cuts if not 0 <= c < num_frames]
        if bad:
            raise InputError(f"cut list entries {bad[:8]} lie outside the clip (0..{num_frames - 1})")
        self.num_frames, self.length = num_frames, settings.segment_frames
        self.overlap = context_frames(settings)
        self._shot_starts = [0] + [c for c in cuts if c > 0]
        ends = [*self._shot_starts[1:], num_frames]
        self._first = [0]  # index of each shot's first segment, then the total
        for start, end in zip(self._shot_starts, ends, strict=True):
            self._first.append(self._first[-1] + -(-(end - start) // self.length))
        self._ends = ends

    def __len__(self) -> int:
        return self._first[-1]

    def __getitem__(self, i: int) -> Segment:  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]  # type: ignore[return-value]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        shot = bisect.bisect_right(self._first, i) - 1
        m = i - self._first[shot]
        start = self._shot_starts[shot] + m * self.length
        context = min(self.overlap, self.length) if m else 0
        return Segment(i, start, min(start + self.length, self._ends[shot]), context,
                       self._shot_starts[shot])

    def index_of(self, frame: int) -> int:
        """The index of the segment that outputs `frame`."""
        if not 0 <= frame < self.num_frames:
            raise IndexError(frame)
        shot = bisect.bisect_right(self._shot_starts, frame) - 1
        return self._first[shot] + (frame - self._shot_starts[shot]) // self.length

    def chain_start(self, i: int) -> int:
        """The first segment of segment i's chain (a cut or frame 0 starts one; without carried context
        every segment is its own chain)."""
        if not self[i].context:
            return i
        return self._first[bisect.bisect_right(self._first, i) - 1]

    def chain_end(self, i: int) -> int:
        """The last segment of segment i's chain."""
        if not self.overlap or self.length <= 0 or (i + 1 < len(self) and not self[i + 1].context):
            return i
        return self._first[bisect.bisect_right(self._first, i)] - 1


def plan_segments(num_frames: int, settings: Settings, cuts: Iterable[int] = ()) -> Segments:
    """The canonical segments of a clip of `num_frames` frames."""
    return Segments(num_frames, settings, cuts)


def segment_of(segments: Segments, frame: int) -> Segment:
    return segments[segments.index_of(frame)]
