"""Counting a video's frames and listing their timestamps by demuxing (no decoding)."""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np


@dataclass(frozen=True)
class VideoIndex:
    """`count` frames; `pts[i]` is the presentation timestamp of frame i, or `pts` is None
    when the packets lack unique timestamps and frames can only be found by decoding in order."""

    count: int
    pts: np.ndarray | None


def scan_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> VideoIndex:
    """One pass over the stream's packets. Container headers are not trusted for the count:
    Matroska and WebM leave it out and MP4 edit lists can disagree with it."""
    stamps: list[int] = []
    count = 0
    stamped = True
    for packet in container.demux(stream):
        # size 0 is the end-of-stream flush; discard-flagged packets (outside an MP4 edit
        # list) are decoded for reference but never shown.
        if packet.size == 0 or packet.is_discard:
            continue
        count += 1
        if packet.pts is None:
            stamped = False
        elif stamped:
            stamps.append(packet.pts)
    pts = np.sort(np.asarray(stamps, dtype=np.int64)) if stamped and count else None
    if pts is not None and (np.diff(pts) <= 0).any():
        pts = None  # repeated timestamps cannot name a frame
    return VideoIndex(count=count, pts=pts)
