"""What a job needs to know about an input file besides its pixels: every frame's timestamp,
the time base, sample aspect ratio, display rotation and field order of the video, the other
streams, chapters and metadata. One demuxing pass; nothing is decoded but the first frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.stream import Disposition
from dcvsr_protocol.errors import InputError

from .deinterlace import FIELD_ORDERS
from .video_index import scan_packets

# Container tags that describe the file that was read, not its content: the muxer writes its own.
_OWN_TAGS = frozenset({"encoder", "major_brand", "minor_version", "compatible_brands", "duration"})


@dataclass(frozen=True)
class OtherStream:
    """A non-video stream (or cover art) that is copied packet for packet."""

    index: int
    kind: str          # "audio", "subtitle", "data", "attachment", "video" (cover art)
    codec: str
    language: str | None

    def describe(self) -> str:
        lang = f", {self.language}" if self.language else ""
        return f"stream #{self.index} ({self.kind}, {self.codec}{lang})"


@dataclass(frozen=True)
class SourceInfo:
    """An input video file as the job sees it. `pts` holds frame i's timestamp in `time_base`
    units (None when the stream has no usable timestamps: frames are then numbered)."""

    path: Path
    video_index: int
    time_base: Fraction
    pts: np.ndarray | None
    sample_aspect: Fraction | None
    rotation: int  # counter-clockwise degrees the picture is turned for display (a tag, as PyAV reads it)
    interlaced: bool
    field_order: str
    streams: tuple[OtherStream, ...]
    chapters: tuple[dict, ...]
    metadata: dict[str, str] = field(default_factory=dict)
    video_metadata: dict[str, str] = field(default_factory=dict)

    def kept(self, drop: frozenset[str]) -> tuple[OtherStream, ...]:
        """The streams that are copied, without the kinds in `drop` ("audio", "subtitle", "data")."""
        return tuple(s for s in self.streams if s.kind not in drop)


def probe(path: Path, video_index: int) -> SourceInfo:
    """Probe `path`, whose picture is stream `video_index` (as open_clip chose it)."""
    try:
        with av.open(str(path)) as container:
            video = container.streams[video_index]
            cc = video.codec_context
            sar = Fraction(cc.sample_aspect_ratio) if cc.sample_aspect_ratio else None
            # Streams without a codec FFmpeg can name cannot be muxed again; in practice this is the
            # text track MP4 keeps chapters in, and the chapters themselves are carried.
            others = tuple(_other(s) for s in container.streams
                           if s.index != video_index and s.codec_context is not None)
            chapters = tuple(container.chapters())
            meta = {k: v for k, v in container.metadata.items() if k.lower() not in _OWN_TAGS}
            vmeta = {k: v for k, v in video.metadata.items() if k.lower() not in _OWN_TAGS}
            time_base = Fraction(video.time_base)
            index = scan_packets(container, video)
        with av.open(str(path)) as container:
            frame = next(container.decode(container.streams[video_index]), None)
    except av.FFmpegError as exc:
        raise InputError(f"{path}: not a readable video file ({exc})") from exc
    interlaced = bool(frame is not None and frame.interlaced_frame)
    order = FIELD_ORDERS.get(int(getattr(cc, "field_order", 0) or 0), "interlaced") if interlaced \
        else "progressive"
    rotation = round(frame.rotation or 0) if frame is not None else 0
    return SourceInfo(path, video_index, time_base, index.pts, sar if sar and sar != 1 else None,
                      rotation, interlaced, order, others, chapters, meta, vmeta)


def _other(stream: av.stream.Stream) -> OtherStream:
    # A second picture stream or cover art keeps kind "video": copied, left out by --no-data.
    return OtherStream(stream.index, stream.type, stream.codec_context.name, stream.metadata.get("language"))


def video_stream_index(path: Path) -> int:
    """The index of the stream open_clip reads: the first video stream that is not cover art."""
    with av.open(str(path)) as container:
        for stream in container.streams.video:
            if not stream.disposition & Disposition.attached_pic:
                return stream.index
    raise InputError(f"{path}: the file has no video stream")
