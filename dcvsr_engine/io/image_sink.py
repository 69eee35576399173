"""Writing frames as 16-bit RGB images (frame_000000.png or .tif, ...) into a folder.

16 bits per channel keep restoration output from being rounded to 8 bits. PIL cannot
write 16-bit RGB PNG, so FFmpeg's PNG and TIFF encoders (through PyAV, already a dependency)
do it, PNG with Paeth prediction and a moderate zlib level for speed, TIFF with deflate.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

FRAME_NAME = "frame_{:06d}"
# codec: (pixel format, byte order of its samples, file suffix, encoder options)
IMAGE_FORMATS = {
    "png": ("rgb48be", ">u2", ".png", {"pred": "paeth", "compression_level": "3"}),
    "tiff": ("rgb48le", "<u2", ".tif", {"compression_algo": "deflate"}),
}


def frame_file(index: int, codec: str = "png") -> str:
    return FRAME_NAME.format(index) + IMAGE_FORMATS[codec][2]


class ImageFolderSink:
    """Frames `start`, `start + 1`, ... as files in `folder` (created if missing)."""

    def __init__(self, folder: Path, width: int, height: int, codec: str = "png", start: int = 0) -> None:
        self.codec = codec
        self.pix_fmt, self._dtype, _, options = IMAGE_FORMATS[codec]
        folder.mkdir(exist_ok=True)  # a resumed job continues in the folder it began
        self._folder = folder
        self._encoder = av.CodecContext.create(codec, "w")
        self._encoder.width, self._encoder.height, self._encoder.pix_fmt = width, height, self.pix_fmt
        self._encoder.options = dict(options)
        self._count = start

    def write(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        frame = av.VideoFrame(w, h, self.pix_fmt)
        plane = frame.planes[0]
        rows = np.zeros((h, plane.line_size // 2), dtype=self._dtype)
        rows[:, : w * 3] = np.rint(np.clip(rgb, 0.0, 1.0) * 65535.0).reshape(h, w * 3)
        plane.update(rows.tobytes())
        data = b"".join(bytes(packet) for packet in self._encoder.encode(frame))
        (self._folder / frame_file(self._count, self.codec)).write_bytes(data)
        self._count += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass
