"""ClipWriter: writes frames to a video file or a folder of 16-bit PNGs, all or nothing.

Frames go to a hidden partial (`.NAME.dcvsr-partial-<random>`) beside the output. Leaving
the `with` block normally renames it to the output; any exception, KeyboardInterrupt
included, deletes it, so the output name only ever holds a complete result. A finalizer
also deletes the partial if the writer is dropped or the interpreter exits unclosed.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from fractions import Fraction
from os import PathLike
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from dcvsr_protocol.colour import ColourTags
from dcvsr_protocol.errors import InputError, OutputError

from .atomic import check_output, commit, partial_name, remove_path
from .codecs import MUXERS, is_video_path, video_format
from .colour import SRGB
from .image_sink import ImageFolderSink
from .reader import as_fps
from .validate import as_rgb_frame
from .video_sink import VideoSink


class ClipWriter:
    """Created by `open_writer`. Fields: `path` (final output), `width`, `height`, `fps`,
    `colour` (the tags written), `codec` ("png" for image folders), `pix_fmt`, `is_video`,
    `frames_written`, `partial` (the temporary path being written)."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: Fraction,
        colour: ColourTags | None,
        overwrite: bool,
        codec: str | None,
        options: Mapping[str, str] | None,
    ) -> None:
        self.path = path
        self.width, self.height, self.fps = width, height, fps
        self.is_video = is_video_path(path.suffix)
        self.frames_written = 0
        self.partial = partial_name(path)
        self._overwrite = overwrite
        self._closed = False
        # Registered before the partial exists, so no window leaves it behind.
        self._cleanup = weakref.finalize(self, remove_path, self.partial)
        try:
            if self.is_video:
                suffix = path.suffix.lower()
                fmt = video_format(suffix, width, height, codec=codec, options=dict(options or {}))
                self._sink: VideoSink | ImageFolderSink = VideoSink(
                    self.partial, MUXERS[suffix], fmt, width, height, fps, colour
                )
                self.colour = self._sink.colour
            else:
                if codec not in (None, "png"):
                    raise OutputError(
                        f"{path}: image folders are written as PNG; codec {codec!r} does not apply"
                    )
                self._sink = ImageFolderSink(self.partial, width, height)
                self.colour = SRGB
        except BaseException:
            self._cleanup()
            raise
        self.codec, self.pix_fmt = self._sink.codec, self._sink.pix_fmt

    def write(self, frame: np.ndarray) -> None:
        """Append one (height, width, 3) float RGB frame; values are clipped to [0, 1]."""
        if self._closed:
            raise OutputError(f"{self.path}: the writer is already closed")
        where = f"frame {self.frames_written} for {self.path}"
        rgb = as_rgb_frame(frame, where)
        if rgb.shape[:2] != (self.height, self.width):
            raise InputError(
                f"{where}: size {rgb.shape[1]}x{rgb.shape[0]}, the output is {self.width}x{self.height}"
            )
        try:
            self._sink.write(rgb)
        except (av.FFmpegError, OSError) as exc:  # encoder failure, disk full
            raise OutputError(f"{self.path}: writing frame {self.frames_written} failed ({exc})") from exc
        self.frames_written += 1

    def close(self) -> None:
        """Finish and move the result to `path`. Raises OutputError if no frame was written."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.frames_written == 0:
                raise OutputError(f"{self.path}: no frames were written; nothing to save")
            try:
                self._sink.close()
                commit(self.partial, self.path, self._overwrite)
            except (av.FFmpegError, OSError) as exc:
                raise OutputError(f"{self.path}: finishing the output failed ({exc})") from exc
        except BaseException:
            self._sink.abort()
            self._cleanup()
            raise
        self._cleanup.detach()

    def abort(self) -> None:
        """Discard everything written; the output path is left as it was."""
        if self._closed:
            return
        self._closed = True
        self._sink.abort()
        self._cleanup()

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def open_writer(
    path: str | PathLike[str],
    width: int,
    height: int,
    fps: Fraction | int | float | str,
    colour: ColourTags | None = None,
    overwrite: bool = False,
    *,
    codec: str | None = None,
    options: Mapping[str, str] | None = None,
) -> ClipWriter:
    """Open an output: a video file when `path` ends in a VIDEO_EXTENSIONS suffix, else a folder of
    16-bit PNGs (frame_000000.png, ...). Use as a context manager.

    `colour` (e.g. the input clip's) sets the video's matrix, range and tags; default BT.709
    limited range. `codec` picks the encoder ("libx264", "libx265", "libvpx-vp9", "ffv1"
    (lossless RGB, .mkv/.avi)); `options` override encoder options such as {"crf": "12"}.
    Raises OutputError before any work if the folder is missing or the output exists.
    """
    target = check_output(path, overwrite)
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise OutputError(f"{target}: output size must be positive whole pixels, got {width}x{height}")
    return ClipWriter(target, width, height, as_fps(fps), colour, overwrite, codec, options)
