"""Image-folder inputs: formats, bit depths, natural order, float TIFF, and in-memory frames."""

from fractions import Fraction

import numpy as np
import pytest
import tifffile
from dcvsr_protocol.errors import InputError
from PIL import Image

from dcvsr_engine.io import clip_from_frames, open_clip


def ramp(height=12, width=20, offset=0.0):
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([xx / width, yy / height, np.full_like(xx, offset)], axis=-1)


def test_float_tiff_folder(tmp_path):
    frames = [ramp(offset=0.25 * i) - 0.1 for i in range(3)]  # below 0 is kept, not clipped
    for i, frame in enumerate(frames):
        tifffile.imwrite(tmp_path / f"f{i}.tif", frame.astype(np.float32), photometric="rgb")
    # planar (separate) float RGB is read too
    tifffile.imwrite(
        tmp_path / "f3.tif", np.moveaxis(frames[0], -1, 0).copy(), photometric="rgb", planarconfig="separate"
    )
    clip = open_clip(tmp_path, fps=Fraction(25))
    assert (clip.num_frames, clip.width, clip.height, clip.fps) == (4, 20, 12, 25)
    got = list(clip.frames())
    for g, want in zip(got, [*frames, frames[0]], strict=True):
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, want)


def test_tiff_with_nan_names_the_file(tmp_path):
    good = ramp()
    bad = ramp()
    bad[3, 4, 1] = np.nan
    tifffile.imwrite(tmp_path / "a_001.tif", good, photometric="rgb")
    tifffile.imwrite(tmp_path / "a_002.tif", bad, photometric="rgb")
    clip = open_clip(tmp_path)
    frames = clip.frames()
    next(frames)
    with pytest.raises(InputError, match=r"a_002\.tif") as info:
        next(frames)
    assert "NaN" in str(info.value)


def test_natural_order_and_mixed_formats(tmp_path):
    # frame number i is encoded in the red channel so the order can be read back
    names = {2: "shot2.png", 10: "shot10.jpg", 1: "shot1.bmp", 33: "shot33.tiff", 100: "shot100.png"}
    for i, name in names.items():
        pixels = np.zeros((10, 10, 3), np.uint8)
        pixels[..., 0] = i
        if name.endswith(".tiff"):
            tifffile.imwrite(tmp_path / name, pixels, photometric="rgb")
        else:
            Image.fromarray(pixels).save(tmp_path / name, quality=100)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"")
    clip = open_clip(tmp_path)
    reds = [round(float(frame[..., 0].mean()) * 255) for frame in clip.frames()]
    assert reds == sorted(names)


def test_16_bit_pngs_keep_16_bits(tmp_path):
    import av

    # colour 16-bit PNG, encoded with FFmpeg's encoder; gray 16-bit PNG from PIL
    values = (np.arange(10 * 12 * 3, dtype=np.uint32) * 181 % 65536).astype(np.uint16).reshape(10, 12, 3)
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 12, 10, "rgb48be"
    frame = av.VideoFrame.from_ndarray(values, format="rgb48le").reformat(format="rgb48be")
    (tmp_path / "0.png").write_bytes(b"".join(bytes(p) for p in encoder.encode(frame)))
    gray = values[..., 1].copy()
    Image.fromarray(gray).save(tmp_path / "1.png")
    colour_frame, gray_frame = open_clip(tmp_path).frames()
    np.testing.assert_array_equal(np.round(colour_frame * 65535).astype(np.uint16), values)
    for c in range(3):
        np.testing.assert_array_equal(np.round(gray_frame[..., c] * 65535).astype(np.uint16), gray)


def test_single_image_is_a_one_frame_clip(tmp_path):
    Image.fromarray(np.full((9, 11, 3), 200, np.uint8)).save(tmp_path / "still.png")
    clip = open_clip(tmp_path / "still.png")
    assert (clip.num_frames, clip.width, clip.height) == (1, 11, 9)
    np.testing.assert_allclose(next(clip.frames()), 200 / 255)


def test_clip_from_frames_validates_and_copies():
    frames = [ramp(offset=i / 4) for i in range(4)]
    clip = clip_from_frames(frames, fps=30)
    assert (clip.num_frames, clip.width, clip.height, clip.fps, clip.source) == (4, 20, 12, 30, None)
    tail = list(clip.frames(start=2))
    np.testing.assert_array_equal(tail[0], frames[2])
    tail[0][:] = 5  # a consumer scribbling on a frame does not change the clip
    np.testing.assert_array_equal(next(clip.frames(start=2)), frames[2])
    as_uint8 = clip_from_frames([np.full((8, 8, 3), 255, np.uint8)])
    np.testing.assert_array_equal(next(as_uint8.frames()), 1.0)
    with pytest.raises(InputError, match="empty"):
        clip_from_frames([])
    with pytest.raises(InputError, match=r"frame 1: .*\(height, width, 3\)"):
        clip_from_frames([ramp(), ramp()[..., :2]])
    with pytest.raises(InputError, match=r"frame 1: .*differs"):
        clip_from_frames([ramp(), ramp(14, 20)])
    bad = ramp()
    bad[0, 0, 0] = np.inf
    with pytest.raises(InputError, match="frame 2: contains NaN or infinite"):
        clip_from_frames([ramp(), ramp(), bad])
    with pytest.raises(InputError, match="minimum side of 8"):
        clip_from_frames([ramp(6, 20)])
    with pytest.raises(InputError, match="outside"):
        clip.frames(start=3, stop=9)
