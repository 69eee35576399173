"""Writing frames as 16-bit RGB PNG files (frame_000000.png, ...) into a folder.

16 bits per channel keep restoration output from being rounded to 8 bits. PIL cannot
write 16-bit RGB PNG, so FFmpeg's PNG encoder (through PyAV, already a dependency) does it,
from rgb48be, with Paeth prediction and a moderate zlib level for speed.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

FRAME_NAME = "frame_{:06d}.png"


class PngFolderSink:
    codec = "png"
    pix_fmt = "rgb48be"

    def __init__(self, folder: Path, width: int, height: int) -> None:
        folder.mkdir()
        self._folder = folder
        self._encoder = av.CodecContext.create("png", "w")
        self._encoder.width, self._encoder.height, self._encoder.pix_fmt = width, height, "rgb48be"
        self._encoder.options = {"pred": "paeth", "compression_level": "3"}
        self._count = 0

    def write(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        frame = av.VideoFrame(w, h, "rgb48be")
        plane = frame.planes[0]
        rows = np.zeros((h, plane.line_size // 2), dtype=">u2")
        rows[:, : w * 3] = np.rint(np.clip(rgb, 0.0, 1.0) * 65535.0).reshape(h, w * 3)
        plane.update(rows.tobytes())
        data = b"".join(bytes(packet) for packet in self._encoder.encode(frame))
        (self._folder / FRAME_NAME.format(self._count)).write_bytes(data)
        self._count += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass
