"""The picture's shape as players show it survives `dcvsr upscale`: a display rotation stays a tag
(the pixels are not turned) and the sample aspect ratio is kept, for every output codec and
container, both read back from the output as a player (or ffprobe) reads them. The model is the
identity (test_colour_pipeline's probe), so the pixels show which way the picture was coded.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from dcvsr_engine.cli import main
from dcvsr_engine.sampler import pipeline
from tests.test_colour_pipeline import ProbeSampler
from tests.test_job_files import flags

SIZE = (40, 32)  # coded width, height of the input
SAR = Fraction(16, 15)


def write_source(path: Path, rotation: int, sar: Fraction | None) -> Path:
    """H.264 with a display rotation (counter-clockwise degrees, as phones write it) and a SAR."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = *SIZE, "yuv444p"
        if sar:
            video.codec_context.sample_aspect_ratio = sar
        video.set_display_rotation(rotation)
        image = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
        image[:8, :8] = 255  # a white block top-left of the coded picture
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv444p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def shown_as(path: Path) -> tuple[tuple[int, int], int, Fraction | None, np.ndarray]:
    """(coded size, display rotation, sample aspect ratio, first frame's coded pixels)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frame = next(container.decode(stream))
        sar = stream.sample_aspect_ratio  # the container's or the bitstream's, as FFmpeg guesses it
        return (frame.width, frame.height), round(frame.rotation), sar, frame.to_ndarray(format="rgb24")


# output name, extra flags
OUTPUTS = {
    "x264 mp4": ("out.mp4", []),
    "x264 mkv": ("out.mkv", []),
    "x265 mkv": ("x265.mkv", ["--codec", "libx265"]),
    "prores mov": ("edit.mov", ["--preset", "edit"]),
    "vp9 mp4": ("vp9.mp4", ["--codec", "libvpx-vp9"]),
}
# Matroska and WebM keep a sample aspect ratio as a display size that PyAV cannot write: these are
# refused before anything is rendered, naming what would keep it.
REFUSED = {
    "prores mkv": ("p.mkv", ["--codec", "prores_ks"], "prores_ks in a .mov file or --codec libx264"),
    "ffv1 mkv": ("archive.mkv", ["--preset", "archive"], "record; --codec libx264 or libx265 in any"),
    "vp9 webm": ("out.webm", [], "libvpx-vp9 in a .mp4 file or --codec libx264"),
}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return write_source(tmp_path_factory.mktemp("picture") / "portrait.mp4", -90, SAR)


@pytest.mark.parametrize("name", OUTPUTS)
def test_rotation_is_a_tag_and_the_sample_aspect_ratio_is_kept(source, tmp_path, tiny_model_dir, monkeypatch,
                                                               name):
    monkeypatch.setattr(pipeline, "DCVSRSampler", ProbeSampler)
    out_name, extra = OUTPUTS[name]
    out = tmp_path / out_name
    assert main(["upscale", str(source), "-o", str(out), *flags(tiny_model_dir), *extra]) == 0
    (width, height), rotation, sar, pixels = shown_as(out)
    assert (width, height) == (2 * SIZE[0], 2 * SIZE[1])  # coded as the input was, not turned
    assert rotation == -90
    assert sar == SAR
    assert pixels[:16, :16].mean() > 200 and pixels[:16, -16:].mean() < 50  # the block is still top-left


@pytest.mark.parametrize("name", REFUSED)
def test_an_output_that_cannot_keep_the_sample_aspect_ratio_is_refused(source, tmp_path, tiny_model_dir,
                                                                      capsys, name):
    out_name, extra, hint = REFUSED[name]
    assert main(["upscale", str(source), "-o", str(tmp_path / out_name), *flags(tiny_model_dir), *extra]) == 2
    err = capsys.readouterr().err
    assert "sample aspect ratio 16/15" in err and hint in err, err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_images_are_turned_upright(source, tmp_path, tiny_model_dir, monkeypatch):
    """A folder of images has no rotation tag: its pixels are turned as the input is shown."""
    monkeypatch.setattr(pipeline, "DCVSRSampler", ProbeSampler)
    out = tmp_path / "frames"
    assert main(["upscale", str(source), "-o", f"{out}/", *flags(tiny_model_dir), "--codec", "png"]) == 0
    first = sorted(out.iterdir())[0]
    with av.open(str(first)) as container:
        image = next(container.decode(video=0)).to_ndarray(format="rgb48le")
    assert image.shape[:2] == (2 * SIZE[0], 2 * SIZE[1])  # turned: portrait
    assert image[:16, -16:].mean() > 50000 and image[:16, :16].mean() < 13000  # turned clockwise: top-right
