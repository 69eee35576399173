"""Encoding float RGB frames into a video file with PyAV."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from dcvsr_protocol.colour import FULL, LIMITED, ColourTags
from dcvsr_protocol.errors import OutputError

from .avframe import rgb_to_frame
from .codecs import CODEC_TAGS, CONTAINER_OPTIONS, MUXERS, choose_encoder
from .colour import BT709, MATRIX_BT709, MATRIX_BT2020_CL, MATRIX_BT2020_NCL, MATRIX_RGB, YUV_MATRICES

_RANGE_CODES = {LIMITED: 1, FULL: 2}  # FFmpeg AVColorRange


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
    """Writes to `partial` using the muxer for `suffix`; close() finishes the file."""

    def __init__(
        self,
        partial: Path,
        suffix: str,
        width: int,
        height: int,
        fps: Fraction,
        colour: ColourTags | None,
        codec: str | None,
        options: Mapping[str, str] | None,
    ) -> None:
        encoder, pix_fmt = choose_encoder(suffix, codec, width, height)
        self.codec = encoder.codec
        self.pix_fmt = pix_fmt
        self.colour = output_colour(colour, rgb_pixels=pix_fmt.startswith("gbrp"))
        opts = {**encoder.options, **CONTAINER_OPTIONS.get((suffix, encoder.codec), {}), **(options or {})}
        try:
            # Created now, not at the first encoded packet, so the name is taken and a
            # permission problem shows before any frame is computed.
            partial.touch(exist_ok=False)
            self._container = av.open(str(partial), "w", format=MUXERS[suffix])
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"{partial.parent}: cannot create the output file ({exc})") from exc
        try:
            stream = self._container.add_stream(encoder.codec, rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            stream.time_base = 1 / fps
            stream.options = opts
            cc = stream.codec_context
            cc.colorspace = self.colour.matrix
            cc.color_range = _RANGE_CODES[self.colour.range]
            cc.color_trc = self.colour.transfer
            cc.color_primaries = self.colour.primaries
            tag = CODEC_TAGS.get((suffix, encoder.codec))
            if tag:
                cc.codec_tag = tag
        except BaseException:
            self._container.close()
            raise
        self._stream = stream
        self._count = 0

    def write(self, rgb: np.ndarray) -> None:
        frame = rgb_to_frame(rgb, self.pix_fmt, self.colour.matrix, self.colour.full_range)
        frame.pts = self._count
        frame.colorspace = self.colour.matrix
        frame.color_range = _RANGE_CODES[self.colour.range]
        self._container.mux(self._stream.encode(frame))
        self._count += 1

    def close(self) -> None:
        """Flush the encoder and write the trailer (moov atom, cues)."""
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()

    def abort(self) -> None:
        try:
            self._container.close()
        except Exception:  # the partial file is deleted next; its state does not matter
            pass
