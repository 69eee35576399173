"""PyAV video frames <-> float32 RGB arrays."""

from __future__ import annotations

import av
import numpy as np
from av.video.reformatter import ColorRange

from . import chroma
from .colour import MATRIX_RGB
from .yuv import dequantize, quantize, rgb_to_ycbcr, ycbcr_to_rgb


def _plane_array(frame: av.VideoFrame, index: int, bits: int) -> np.ndarray:
    """One plane as a (height, width) integer array, without the row padding."""
    plane = frame.planes[index]
    dtype = np.uint8 if bits <= 8 else np.dtype("<u2")
    rows = np.frombuffer(plane, dtype=dtype).reshape(plane.height, -1)
    return rows[:, : plane.width]


# Packed RGB formats PyAV's to_ndarray returns channel-last, and where R, G, B sit in them.
_PACKED_RGB = {
    **dict.fromkeys(("rgb24", "rgba", "rgb48le", "rgb48be", "rgba64le", "rgba64be"), (0, 1, 2)),
    **dict.fromkeys(("bgr24", "bgra", "bgr48le", "bgr48be", "bgra64le", "bgra64be"), (2, 1, 0)),
    "argb": (1, 2, 3),
    "abgr": (3, 2, 1),
}


def _rgb_frame(frame: av.VideoFrame) -> np.ndarray:
    """RGB-family frame -> float32 RGB. Read directly where PyAV can: swscale's RGB -> rgb48
    path is off by up to a code value, so it is only the fallback (palette, 5/6/10-bit packed)."""
    fmt = frame.format
    name = fmt.name
    bits = fmt.components[0].bits
    if name in _PACKED_RGB or (fmt.is_planar and name.startswith("gbr")):
        data = frame.to_ndarray()  # planar gbr* comes back in R, G, B(, A) order
        order = _PACKED_RGB.get(name, (0, 1, 2))
        rgb = data[..., list(order)]
        if np.issubdtype(rgb.dtype, np.floating):
            return rgb.astype(np.float32)
        return rgb.astype(np.float32) / float((1 << bits) - 1)
    return frame.to_ndarray(format="rgb48le").astype(np.float32) / 65535.0


def _native_layout(fmt: av.VideoFormat) -> tuple[int, int, int] | None:
    """(bits, fx, fy) when the format is little-endian planar Y'CbCr (or gray) read directly here."""
    if fmt.is_rgb or fmt.has_palette or fmt.is_big_endian or fmt.is_bayer or fmt.is_bit_stream:
        return None
    comps = fmt.components
    bits = comps[0].bits
    if not comps[0].is_luma or comps[0].plane != 0 or bits > 16:
        return None
    if len(comps) == 1:
        return bits, 0, 0  # gray
    if comps[1].plane != 1 or comps[2].plane != 2 or comps[1].bits != bits:
        return None
    fx = 2 if comps[1].width < comps[0].width else 1
    fy = 2 if comps[1].height < comps[0].height else 1
    if comps[1].width != -(-comps[0].width // fx) or comps[1].height != -(-comps[0].height // fy):
        return None  # 4:1:1, 4:1:0 and the like: resampled by swscale first
    return bits, fx, fy


def frame_to_rgb(frame: av.VideoFrame, matrix: int, full_range: bool) -> np.ndarray:
    """Decode one frame to (H, W, 3) float32 RGB using the given Y'CbCr matrix and range."""
    fmt = frame.format
    if fmt.name.startswith("yuvj"):
        full_range = True  # the deprecated JPEG formats imply full range whatever the tag says
    layout = _native_layout(fmt)
    if layout is None:
        if fmt.is_rgb or fmt.has_palette:
            return _rgb_frame(frame)
        # Other Y'CbCr layouts (semi-planar, big-endian, 4:1:1): let swscale resample the
        # chroma only, keeping range and matrix, then convert here.
        rng = ColorRange.JPEG if full_range else ColorRange.MPEG
        deep = fmt.components[0].bits > 8
        frame = frame.reformat(
            format="yuv444p16le" if deep else "yuv444p", src_color_range=rng, dst_color_range=rng
        )
        layout = (16 if deep else 8, 1, 1)
    bits, fx, fy = layout
    w, h = frame.width, frame.height
    y = dequantize(_plane_array(frame, 0, bits), bits, full_range, chroma=False)
    if fx == 0:
        return np.repeat(y[:, :, None], 3, axis=2)
    cb, cr = (
        chroma.upsample(dequantize(_plane_array(frame, i, bits), bits, full_range, chroma=True), fx, fy, w, h)
        for i in (1, 2)
    )
    return ycbcr_to_rgb(y, cb, cr, matrix)


def _fill_plane(frame: av.VideoFrame, index: int, data: np.ndarray) -> None:
    plane = frame.planes[index]
    itemsize = data.dtype.itemsize
    padded = np.zeros((plane.height, plane.line_size // itemsize), dtype=data.dtype.newbyteorder("<"))
    padded[:, : data.shape[1]] = data
    plane.update(padded.tobytes())


def rgb_to_frame(rgb: np.ndarray, pix_fmt: str, matrix: int, full_range: bool) -> av.VideoFrame:
    """(H, W, 3) float RGB -> a frame in a planar little-endian Y'CbCr or GBR pixel format."""
    h, w = rgb.shape[:2]
    frame = av.VideoFrame(w, h, pix_fmt)
    fmt = frame.format
    bits = fmt.components[0].bits
    rgb = np.clip(rgb, 0.0, 1.0)
    if fmt.is_rgb:  # gbrp*: planes are G, B, R, full range by definition
        peak = float((1 << bits) - 1)
        dtype = np.uint8 if bits <= 8 else np.uint16
        for index, channel in ((0, 1), (1, 2), (2, 0)):
            _fill_plane(frame, index, np.rint(rgb[..., channel] * peak).astype(dtype))
        return frame
    if matrix == MATRIX_RGB:
        raise ValueError("a Y'CbCr pixel format needs a Y'CbCr matrix, not the RGB identity")
    layout = _native_layout(fmt)
    if layout is None or layout[1] == 0:
        raise ValueError(f"pixel format {pix_fmt} is not supported for writing")
    _, fx, fy = layout
    y, cb, cr = rgb_to_ycbcr(rgb, matrix)
    _fill_plane(frame, 0, quantize(y, bits, full_range, chroma=False))
    for index, plane in ((1, cb), (2, cr)):
        _fill_plane(frame, index, quantize(chroma.downsample(plane, fx, fy), bits, full_range, chroma=True))
    return frame
