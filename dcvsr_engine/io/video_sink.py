"""Encoding float RGB frames into a video file with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from dcvsr_protocol.colour import FULL, LIMITED, ColourTags
from dcvsr_protocol.errors import OutputError

from .avframe import rgb_to_frame
from .codecs import MUXER_OPTIONS, VideoFormat
from .colour import BT709, MATRIX_BT709, MATRIX_BT2020_CL, MATRIX_BT2020_NCL, MATRIX_RGB, YUV_MATRICES

_RANGE_CODES = {LIMITED: 1, FULL: 2}  # FFmpeg AVColorRange
# libx265 (4.x) gives each packet a decode time of pts minus the lag it measures when frame number
# 2 (its B-frame delay with b-pyramid) arrives; an encode of 2 frames or fewer never measures it, so
# its decode times are whatever memory held: the muxer refuses them (EINVAL) or shifts the file's
# times by them (other bytes each run). An encode that short has no B-frame (its last frame is a
# reference), so it is decoded in presentation order.
_X265_DELAY = 2


def output_colour(colour: ColourTags | None, rgb_pixels: bool) -> ColourTags:
    """The tags the file gets, which are also the matrix and range it is encoded with.

    An input without a usable Y'CbCr matrix (images, RGB video) is encoded as BT.709 limited
    range; transfer and primaries are passed through as given.
    """
    colour = colour or BT709
    if rgb_pixels:
        return ColourTags(MATRIX_RGB, colour.transfer, colour.primaries, FULL)
    if colour.matrix not in YUV_MATRICES:
        return ColourTags(MATRIX_BT709, colour.transfer, colour.primaries, LIMITED)
    if colour.matrix == MATRIX_BT2020_CL:  # encoded with the non-constant-luminance matrix, so say so
        return ColourTags(MATRIX_BT2020_NCL, colour.transfer, colour.primaries, colour.range)
    return colour


class VideoSink:
    """Encodes frames into `partial` with the FFmpeg muxer `muxer`; close() finishes the file.

    `time_base` is the stream's (default 1/fps); frames get pts 0, 1, 2... in frames unless
    `write` is given each frame's own timestamp in `time_base` units (variable frame rate).
    """

    def __init__(
        self,
        partial: Path,
        muxer: str,
        fmt: VideoFormat,
        width: int,
        height: int,
        fps: Fraction,
        colour: ColourTags | None,
        *,
        time_base: Fraction | None = None,
        sample_aspect: Fraction | None = None,
    ) -> None:
        self.codec = fmt.codec
        self.pix_fmt = fmt.pix_fmt
        self.colour = output_colour(colour, rgb_pixels=fmt.pix_fmt.startswith("gbrp"))
        try:
            # Created now, not at the first encoded packet, so the name is taken and a
            # permission problem shows before any frame is computed.
            partial.touch(exist_ok=False)
            self._container = av.open(str(partial), "w", format=muxer, options=MUXER_OPTIONS)
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"{partial.parent}: cannot create the output file ({exc})") from exc
        try:
            stream = self._container.add_stream(fmt.codec, rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, fmt.pix_fmt
            stream.time_base = time_base or 1 / fps
            stream.options = dict(fmt.options)
            cc = stream.codec_context
            cc.time_base = stream.time_base  # frames' pts are in the stream's units
            cc.colorspace = self.colour.matrix
            cc.color_range = _RANGE_CODES[self.colour.range]
            cc.color_trc = self.colour.transfer
            cc.color_primaries = self.colour.primaries
            if sample_aspect:
                cc.sample_aspect_ratio = sample_aspect
            if fmt.codec_tag:
                cc.codec_tag = fmt.codec_tag
        except BaseException:
            self._container.close()
            raise
        self._stream = stream
        self._count = 0

    def write(self, rgb: np.ndarray, pts: int | None = None, duration: int | None = None) -> list[int]:
        """Encode one frame; returns the timestamps of the packets this produced, in decode order."""
        frame = rgb_to_frame(rgb, self.pix_fmt, self.colour.matrix, self.colour.full_range)
        frame.pts = self._count if pts is None else pts
        if duration:
            frame.duration = duration
        frame.colorspace = self.colour.matrix
        frame.color_range = _RANGE_CODES[self.colour.range]
        self._count += 1
        return self._mux(self._stream.encode(frame))

    def _mux(self, packets: list[av.Packet]) -> list[int]:
        if self.codec == "libx265" and self._count <= _X265_DELAY:
            for packet in packets:
                packet.dts = packet.pts
        stamps = [p.pts for p in packets]  # read first: muxing hands the packets to FFmpeg
        self._container.mux(packets)
        return stamps

    def close(self) -> list[int]:
        """Flush the encoder and write the trailer (moov atom, cues); returns the flushed packets' pts."""
        try:
            return self._mux(self._stream.encode(None))
        finally:
            self._container.close()

    def abort(self) -> None:
        try:
            self._container.close()
        except Exception:  # the partial file is deleted next; its state does not matter
            pass
