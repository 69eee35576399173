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

from collections.abc import Iterable
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


def plan_segments(num_frames: int, settings: Settings, cuts: Iterable[int] = ()) -> list[Segment]:
    """The canonical segments of a clip of `num_frames` frames."""
    if num_frames < 1:
        raise InputError("the clip has no frames")
    cuts = sorted(set(cuts))
    bad = [c for c in cuts if not 0 <= c < num_frames]
    if bad:
        raise InputError(f"cut list entries {bad} lie outside the clip (0..{num_frames - 1})")
    shots = [c for c in cuts if c > 0] + [num_frames]
    overlap = context_frames(settings)
    segments: list[Segment] = []
    start = 0
    for shot_end in shots:
        first, shot_start = True, start
        while start < shot_end:
            stop = min(start + settings.segment_frames, shot_end)
            context = 0 if first else min(overlap, segments[-1].frames)
            segments.append(Segment(len(segments), start, stop, context, shot_start))
            start, first = stop, False
    return segments


def segment_of(segments: list[Segment], frame: int) -> Segment:
    for seg in segments:
        if seg.start <= frame < seg.stop:
            return seg
    raise IndexError(frame)
