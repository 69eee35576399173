"""Video files -> Clip through PyAV, with frame-accurate random access.

Frame i is the frame with the i-th smallest presentation timestamp (which, for a sane
stream, is the i-th frame the decoder outputs). `frames(start)` seeks to a key frame at or
before that timestamp and decodes forward, checking timestamps; when seeking cannot be
trusted (no timestamps, a seek that lands late or on a non-key frame) it decodes from the
first frame instead, which is slow but right.

A display rotation (phone videos) is applied in quarter turns unless the caller carries it as a
tag instead (`upright=False`). Sample aspect ratio and interlacing are passed through untouched:
frames are the coded pixels.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from fractions import Fraction
from functools import partial
from pathlib import Path

import av
import numpy as np
from av.stream import Disposition
from dcvsr_protocol.colour import FULL, LIMITED, ColourTags
from dcvsr_protocol.errors import InputError

from .avframe import frame_to_rgb
from .clip import Clip
from .colour import (
    MATRIX_RGB,
    MATRIX_UNSPECIFIED,
    PRIMARIES_UNSPECIFIED,
    TRANSFER_UNSPECIFIED,
    resolve_matrix,
)
from .deinterlace import deinterlace as deinterlace_frame
from .validate import check_min_side
from .video_index import VideoIndex, scan_packets

# How many frames before the target to seek to on successive tries before decoding from the start.
_SEEK_BACKOFF = (0, 16, 256, 4096)
_READ_ERRORS = (av.FFmpegError, OSError)
# FFmpeg's AVColorRange: 0 unspecified, 1 limited ("MPEG"), 2 full ("JPEG").
RANGE_UNSPECIFIED, RANGE_FULL = 0, 2

ToRGB = Callable[[av.VideoFrame], np.ndarray]


def open_video(path: Path, min_side: int, deinterlace: bool = False, upright: bool = True) -> Clip:
    try:
        with av.open(str(path)) as container:
            stream = _pick_stream(container, path)
            index = scan_packets(container, stream)
            stream_index = stream.index
            fps = _frame_rate(stream, path)
            cc = stream.codec_context
            if cc is None:
                raise InputError(f"{path}: the video's codec is not one this FFmpeg can decode "
                                 f"(unsupported codec)")
            stream_tags = (cc.colorspace, cc.color_range, cc.color_trc, cc.color_primaries)
        if index.count == 0:
            raise InputError(f"{path}: the video has no frames")
        first = _first_frame(path, stream_index)
    except _READ_ERRORS as exc:
        raise InputError(f"{path}: not a readable video file ({exc})") from exc
    coded = (first.width, first.height)
    turns = _quarter_turns(first, path) if upright else 0
    width, height = (coded[1], coded[0]) if turns % 2 else coded
    check_min_side(width, height, min_side, str(path))
    colour = _colour(first, stream_tags, str(path))
    to_rgb = partial(_display_rgb, matrix=colour.matrix, full_range=colour.full_range, turns=turns,
                     deinterlace=deinterlace)
    read = partial(_decode_range, path, stream_index, index, coded, to_rgb)
    return Clip(index.count, width, height, fps, colour, path, "video", read)


def _quarter_turns(frame: av.VideoFrame, path: Path) -> int:
    """Counterclockwise quarter turns that show the frame upright (phone videos carry a rotation)."""
    turns, rest = divmod(round(frame.rotation or 0), 90)
    if rest:
        warnings.warn(f"{path}: display rotation {frame.rotation} degrees is ignored", stacklevel=3)
        return 0
    return turns % 4


def _display_rgb(frame: av.VideoFrame, matrix: int, full_range: bool, turns: int,
                 deinterlace: bool = False) -> np.ndarray:
    if deinterlace and frame.interlaced_frame:
        frame = deinterlace_frame(frame)
    rgb = frame_to_rgb(frame, matrix, full_range)
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def _pick_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:  # skip cover art
            return stream
    raise InputError(f"{path}: the file has no video stream")


def _frame_rate(stream: av.video.stream.VideoStream, path: Path) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    warnings.warn(f"{path}: the video does not state a frame rate; assuming 24 fps", stacklevel=3)
    return Fraction(24)


def _open(path: Path, stream_index: int) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    container = av.open(str(path))
    stream = container.streams[stream_index]
    stream.thread_type = "AUTO"  # frame threads: faster, and timestamps are unaffected
    return container, stream


def _first_frame(path: Path, stream_index: int) -> av.VideoFrame:
    container, stream = _open(path, stream_index)
    with container:
        frame = next(container.decode(stream), None)
    if frame is None:
        raise InputError(f"{path}: no frame of the video could be decoded")
    return frame


def _colour(frame: av.VideoFrame, stream_tags: tuple[int, int, int, int], where: str) -> ColourTags:
    """Tags from the decoded frame, else the stream; matrix and range resolved to what decoding uses."""
    matrix, rng, transfer, primaries = (
        int(tag) if int(tag) != unspecified else int(fallback)
        for tag, fallback, unspecified in zip(
            (frame.colorspace, frame.color_range, frame.color_trc, frame.color_primaries),
            stream_tags,
            (MATRIX_UNSPECIFIED, RANGE_UNSPECIFIED, TRANSFER_UNSPECIFIED, PRIMARIES_UNSPECIFIED),
            strict=True,
        )
    )
    if frame.format.is_rgb or frame.format.has_palette:
        return ColourTags(MATRIX_RGB, transfer, primaries, FULL)
    full = rng == RANGE_FULL or frame.format.name.startswith("yuvj")
    matrix = resolve_matrix(matrix, frame.width, frame.height, where)
    return ColourTags(matrix, transfer, primaries, FULL if full else LIMITED)


def _check_size(frame: av.VideoFrame, size: tuple[int, int], path: Path, position: int) -> None:
    if (frame.width, frame.height) != size:
        raise InputError(
            f"{path}: frame {position} is {frame.width}x{frame.height} but the video starts at "
            f"{size[0]}x{size[1]}; videos that change size are not supported"
        )


def _decode_range(
    path: Path,
    stream_index: int,
    index: VideoIndex,
    size: tuple[int, int],
    to_rgb: ToRGB,
    start: int,
    stop: int,
) -> Iterator[np.ndarray]:
    if start == stop:
        return
    opened = _open_at(path, stream_index, index.pts, start) if start > 0 and index.pts is not None else None
    if opened is None:
        yield from _decode_sequential(path, stream_index, index.count, size, to_rgb, start, stop)
        return
    container, frame, frames = opened
    position = start
    with container:
        try:
            while True:
                if frame.pts != index.pts[position]:
                    break  # timestamps disagree with the index: finish by decoding in order
                _check_size(frame, size, path, position)
                yield to_rgb(frame)
                position += 1
                if position == stop:
                    return
                frame = next(frames, None)
                if frame is None:
                    raise InputError(f"{path}: decoding ended at frame {position} of {index.count}")
        except _READ_ERRORS as exc:
            raise InputError(f"{path}: decoding failed at frame {position} ({exc})") from exc
    yield from _decode_sequential(path, stream_index, index.count, size, to_rgb, position, stop)


def _open_at(
    path: Path, stream_index: int, pts: np.ndarray, start: int
) -> tuple[av.container.InputContainer, av.VideoFrame, Iterator[av.VideoFrame]] | None:
    """A container whose decoder has just produced frame `start`, or None to decode in order."""
    target = int(pts[start])
    for back in _SEEK_BACKOFF:
        begin = max(0, start - back)
        container, stream = _open(path, stream_index)
        keep = False
        try:
            container.seek(int(pts[begin]), stream=stream, backward=True, any_frame=False)
            frames = container.decode(stream)
            frame = next(frames, None)
            if frame is None or frame.pts is None:
                return None
            if frame.pts > target or not frame.key_frame:
                # Landed after the target, or mid-GOP where references are missing: go back further.
                if begin == 0:
                    return None
                continue
            while frame is not None and frame.pts is not None and frame.pts < target:
                frame = next(frames, None)
            if frame is None or frame.pts != target:
                return None
            keep = True
            return container, frame, frames
        except _READ_ERRORS:
            return None
        finally:
            if not keep:
                container.close()
    return None


def _decode_sequential(
    path: Path, stream_index: int, count: int, size: tuple[int, int], to_rgb: ToRGB, start: int, stop: int
) -> Iterator[np.ndarray]:
    position = 0
    container, stream = _open(path, stream_index)
    with container:
        try:
            for frame in container.decode(stream):
                if position >= start:
                    _check_size(frame, size, path, position)
                    yield to_rgb(frame)
                position += 1
                if position == stop:
                    return
        except _READ_ERRORS as exc:
            raise InputError(f"{path}: decoding failed at frame {position} ({exc})") from exc
    raise InputError(f"{path}: only {position} of {count} frames could be decoded")
