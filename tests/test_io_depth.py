"""High-bit-depth sources and Y'CbCr decoding, checked against the H.273 equations."""

import av
import numpy as np
import pytest

from dcvsr_engine.io import open_clip


def write_planes(path, planes, pix_fmt, codec="ffv1", matrix=1, full_range=False, frames=2):
    """Encode raw integer planes exactly as given (FFV1 is lossless), bypassing the package's writer."""
    height, width = planes[0].shape
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        cc = stream.codec_context
        cc.colorspace, cc.color_range = matrix, 2 if full_range else 1
        cc.color_primaries = cc.color_trc = 1
        for i in range(frames):
            frame = av.VideoFrame(width, height, pix_fmt)
            frame.colorspace, frame.color_range = matrix, 2 if full_range else 1
            for plane, data in zip(frame.planes, planes, strict=True):
                padded = np.zeros((plane.height, plane.line_size // data.itemsize), dtype=data.dtype)
                padded[:, : data.shape[1]] = data
                plane.update(padded.tobytes())
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def test_10_bit_source_keeps_more_than_8_bit_precision(tmp_path):
    height, width = 16, 64
    # a gray ramp over 10-bit luma codes 64..940 that are mostly not multiples of 4
    luma = np.tile(np.linspace(64, 940, width).round().astype(np.uint16), (height, 1))
    luma[:, 1::2] += 1
    chroma = np.full((height // 2, width // 2), 512, np.uint16)
    write_planes(tmp_path / "ten.mkv", [luma, chroma, chroma], "yuv420p10le")
    clip = open_clip(tmp_path / "ten.mkv")
    assert clip.num_frames == 2 and not clip.colour.full_range
    frame = next(clip.frames())
    expected = (luma.astype(np.float64) - 64) / 876
    np.testing.assert_allclose(frame[..., 0], expected, atol=2e-6)
    np.testing.assert_allclose(frame[..., 1], expected, atol=2e-6)
    # Rounded to 8 bits, these values would be off by up to 1/510; at 10 bits they are not.
    eight_bit = np.round(frame * 255) / 255
    assert np.abs(eight_bit - expected[..., None]).max() > 1e-3
    assert len(np.unique(frame[..., 0])) > 50


@pytest.mark.parametrize(
    "matrix,kr,kb,full_range",
    [(1, 0.2126, 0.0722, False), (6, 0.299, 0.114, False), (9, 0.2627, 0.0593, True)],
)
def test_stream_matrix_and_range_are_used(tmp_path, matrix, kr, kb, full_range):
    height, width = 8, 8
    y, cb, cr = 120, 90, 180
    planes = [np.full((height, width), v, np.uint8) for v in (y, cb, cr)]
    write_planes(tmp_path / "m.mkv", planes, "yuv444p", matrix=matrix, full_range=full_range)
    clip = open_clip(tmp_path / "m.mkv")
    assert clip.colour.matrix == matrix and clip.colour.full_range == full_range
    if full_range:
        ey, eb, er = y / 255, (cb - 128) / 255, (cr - 128) / 255
    else:
        ey, eb, er = (y - 16) / 219, (cb - 128) / 224, (cr - 128) / 224
    r = ey + 2 * (1 - kr) * er
    b = ey + 2 * (1 - kb) * eb
    g = (ey - kr * r - kb * b) / (1 - kr - kb)
    frame = next(clip.frames())
    np.testing.assert_allclose(frame[4, 4], [r, g, b], atol=1e-5)


def test_untagged_sd_video_is_decoded_as_bt601(tmp_path):
    planes = [np.full((16, 16), v, np.uint8) for v in (120, 90, 180)]
    write_planes(tmp_path / "sd.mkv", planes, "yuv444p", matrix=2)
    clip = open_clip(tmp_path / "sd.mkv")
    assert clip.colour.matrix == 6
