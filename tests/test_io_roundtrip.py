"""Write real files with real codecs, read them back: counts, sizes, rates, pixels, random access."""

from fractions import Fraction

import numpy as np
import pytest

from dcvsr_engine.io import open_clip, open_writer


def moving_gradient(n, height, width):
    """Frames that differ from each other everywhere, so an off-by-one frame is caught."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return [
        np.stack(
            [
                0.5 + 0.4 * np.sin(2 * np.pi * (xx + 4 * i) / width),
                yy / height,
                np.full_like(xx, 0.1 + 0.15 * i),
            ],
            axis=-1,
        )
        for i in range(n)
    ]


def write(path, frames, fps=Fraction(24), **kwargs):
    height, width = frames[0].shape[:2]
    with open_writer(path, width, height, fps, **kwargs) as writer:
        for frame in frames:
            writer.write(frame)
    return writer


@pytest.mark.parametrize("name", ["clip.mp4", "clip.mkv"])
@pytest.mark.parametrize("size", [(48, 64), (17, 33)])
def test_video_round_trip(tmp_path, name, size):
    frames = moving_gradient(5, *size)
    write(tmp_path / name, frames, fps=Fraction(30000, 1001))
    clip = open_clip(tmp_path / name)
    assert (clip.num_frames, clip.height, clip.width) == (5, *size)
    assert clip.fps == Fraction(30000, 1001)
    assert clip.kind == "video" and clip.colour.matrix == 1 and not clip.colour.full_range
    decoded = list(clip.frames())
    assert len(decoded) == 5
    for got, want in zip(decoded, frames, strict=True):
        assert got.dtype == np.float32 and got.shape == (*size, 3)
        assert np.abs(got - want).mean() < 0.02
    # each decoded frame is closest to its own source frame, not a neighbour
    for i, got in enumerate(decoded):
        assert int(np.argmin([np.abs(got - f).mean() for f in frames])) == i


def test_png_folder_round_trip_is_exact_to_16_bits(tmp_path):
    frames = moving_gradient(5, 17, 33)
    frames[2][0, 0] = (1e-5, 0.5 + 0.3 / 65535, 0.999999)  # values only 16 bits can hold
    writer = write(tmp_path / "out", frames)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(5)]
    assert writer.codec == "png"
    clip = open_clip(tmp_path / "out")
    assert (clip.num_frames, clip.height, clip.width, clip.kind) == (5, 17, 33, "images")
    for got, want in zip(clip.frames(), frames, strict=True):
        assert np.abs(got - want).max() <= 0.5 / 65535 + 1e-7


def test_ffv1_is_lossless_at_16_bits(tmp_path):
    frames = moving_gradient(3, 17, 33)
    write(tmp_path / "lossless.mkv", frames, codec="ffv1")
    clip = open_clip(tmp_path / "lossless.mkv")
    assert clip.colour.matrix == 0  # stored as RGB, no Y'CbCr matrix involved
    for got, want in zip(clip.frames(), frames, strict=True):
        assert np.abs(got - want).max() <= 0.5 / 65535 + 1e-7


@pytest.mark.parametrize("name", ["seek.mp4", "seek.mkv", "seek_png"])
def test_random_access_matches_full_decode(tmp_path, name):
    # Key frame every 4 frames with B-frames, so a start inside a GOP has to decode from a key frame.
    options = {"g": "4", "bf": "2"} if name.endswith((".mp4", ".mkv")) else None
    write(tmp_path / name, moving_gradient(11, 16, 32), options=options)
    clip = open_clip(tmp_path / name)
    full = list(clip.frames())
    assert len(full) == 11
    for start in (3, 4, 5, 9, 10):
        tail = list(clip.frames(start=start))
        assert len(tail) == 11 - start
        for got, want in zip(tail, full[start:], strict=True):
            np.testing.assert_array_equal(got, want)
    middle = list(clip.frames(start=5, stop=7))
    assert len(middle) == 2
    np.testing.assert_array_equal(middle[1], full[6])


@pytest.mark.parametrize("name", ["jump.mp4", "jump.mkv"])
def test_random_access_seeks_rather_than_decoding_from_the_start(tmp_path, monkeypatch, name):
    import dcvsr_engine.io.video_source as video_source

    write(tmp_path / name, moving_gradient(13, 16, 32), options={"g": "4", "bf": "2"})
    clip = open_clip(tmp_path / name)
    full = list(clip.frames())

    def refuse(*args, **kwargs):
        raise AssertionError("fell back to decoding from the first frame")

    monkeypatch.setattr(video_source, "_decode_sequential", refuse)
    for start in (1, 5, 8, 12):
        np.testing.assert_array_equal(next(clip.frames(start=start)), full[start])


def test_frames_streams_lazily(tmp_path):
    write(tmp_path / "lazy.mp4", moving_gradient(5, 16, 32))
    clip = open_clip(tmp_path / "lazy.mp4")
    it = clip.frames()
    first = next(it)
    assert first.shape == (16, 32, 3)
    it.close()  # abandoning a half-read iterator must not leak or raise


def test_writer_keeps_given_colour_tags(tmp_path):
    from dcvsr_protocol.colour import FULL, ColourTags

    sd = ColourTags(matrix=6, transfer=6, primaries=6, range=FULL)
    frames = moving_gradient(3, 17, 33)  # odd size: 4:4:4, and CRF 0 makes H.264 lossless
    write(tmp_path / "sd.mp4", frames, colour=sd, options={"crf": "0"})
    clip = open_clip(tmp_path / "sd.mp4")
    assert clip.colour == sd
    for got, want in zip(clip.frames(), frames, strict=True):
        # decoded with the matrix and range it was encoded with: only 8-bit rounding remains
        assert np.abs(got - want).max() < 4 / 255


def test_display_rotation_is_applied(tmp_path):
    import av

    path = tmp_path / "portrait.mp4"
    image = np.zeros((16, 32, 3), np.uint8)
    image[:4, :4] = 255  # white block top-left of the coded picture
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv444p"
        stream.set_display_rotation(-90)  # what phones write for portrait: show turned clockwise
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv444p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    clip = open_clip(path)
    assert (clip.width, clip.height) == (16, 32)
    frame = next(clip.frames())
    assert frame.shape == (32, 16, 3)
    assert frame[:4, -4:].mean() > 0.8 and frame[:4, :4].mean() < 0.2  # turned clockwise: now top-right


@pytest.mark.parametrize("frames", [1, 2])
def test_short_x265_encodes_mux_with_the_same_bytes(tmp_path, frames):
    # libx265 leaves the decode time of an encode of 2 frames or fewer uninitialised: the muxer
    # refused it (EINVAL) or shifted the chunk by it, in about a fifth of the runs (video_sink.py).
    # A longer encode before each, as a job's chunks come, leaves the heap that it then reads.
    from dcvsr_engine.io.codecs import video_format
    from dcvsr_engine.io.join import CHUNK_MUXER
    from dcvsr_engine.io.video_sink import VideoSink

    fmt = video_format(".mkv", 80, 64, codec="libx265")
    rng = np.random.default_rng(0)
    images = rng.random((8 + frames, 64, 80, 3), dtype=np.float32)
    written = set()
    for run in range(20):
        for name, chunk in (("long", images[:8]), ("short", images[8:])):
            path = tmp_path / f"{name}_{run}.mkv"
            sink = VideoSink(path, CHUNK_MUXER, fmt, 80, 64, Fraction(24000, 1001), None,
                             time_base=Fraction(1, 24000))
            for i, image in enumerate(chunk):
                sink.write(image, 5005 + 1001 * i, 1001)
            sink.close()
        written.add(path.read_bytes())
    assert len(written) == 1
    assert open_clip(path).num_frames == frames


def test_x265_refuses_frames_one_coding_unit_wide():
    # 64 pixels wide: libx265's motion search reads memory it never wrote, so the bytes vary.
    from dcvsr_protocol.errors import OutputError

    from dcvsr_engine.io.codecs import video_format

    with pytest.raises(OutputError, match="at least 66x64"):
        video_format(".mkv", 64, 128, codec="libx265")
    video_format(".mkv", 66, 64, codec="libx265")
