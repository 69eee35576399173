"""Shots: a job's canonical segments grouped by the cut that starts them, the unit a worker renders.

A shot is one chain of segments (TAP carries state from each to the next), so it is rendered
in order on one worker; a shot longer than a segment is still one chain, however long. Its cost
is bounded anyway: memory by one segment (the sampler holds a segment and the carried state,
never the shot), time by its length, and the job's wall time by the longest shot (docs/cluster.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sampler.segments import Segment


@dataclass(frozen=True)
class Shot:
    index: int   # the shot's place in the clip (0 = the first)
    first: int   # index of its first segment
    stop: int    # one past the index of its last segment
    start: int   # its first frame
    end: int     # one past its last frame

    @property
    def frames(self) -> int:
        return self.end - self.start

    def segments(self) -> range:
        return range(self.first, self.stop)


def plan_shots(segments: list[Segment]) -> list[Shot]:
    """The shots of a job, in clip order."""
    shots: list[Shot] = []
    for seg in segments:
        if shots and seg.shot == shots[-1].start:
            last = shots[-1]
            shots[-1] = Shot(last.index, last.first, seg.index + 1, last.start, seg.stop)
        else:
            shots.append(Shot(len(shots), seg.index, seg.index + 1, seg.start, seg.stop))
    return shots


def longest_first(shots: list[Shot]) -> list[Shot]:
    """The order shots are handed out: longest first (then in clip order), so the longest chain, which
    bounds the job's wall time, starts at once and short shots fill the gaps at the end."""
    return sorted(shots, key=lambda shot: (-shot.frames, shot.index))
