"""Colour through the real `dcvsr upscale` pipeline, with a probe in place of the model.

Each input is written with PyAV in the test (FFV1, lossless, so only the pipeline's own error is
measured), tagged as a camera or a grading suite would tag it. The probe is the real sampler with
its model step replaced: it records the frames the model would receive and returns each pixel
unchanged (nearest-neighbour x2). What it received is compared with an OpenColorIO reference
computed here, and the output file's pixels and tags with the input's.

Tolerances (per format, on [0, 1] values): 8-bit inputs are encoded here by swscale, whose
fixed-point Y'CbCr maths is off by up to ~1.5 code values, so the model's input is checked within
2.5/255 of the RGB given to swscale; the output (8-bit 4:4:4, the input's matrix and range), re-read
the same way as the input, within 1e-3; 10-bit PQ and HLG ramps written back as 10-bit 4:4:4
round-trip within one 10-bit code value (1/1023), and the values the model receives equal
OpenColorIO's within 1e-4.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import av
import numpy as np
import PyOpenColorIO as ocio
import pytest
from av.video.reformatter import ColorRange

from dcvsr_engine import cli
from dcvsr_engine.colour import CONFIG
from dcvsr_engine.io import open_clip
from dcvsr_engine.sampler import pipeline
from tests.conftest import TEST_PRESET

W, H = 48, 32
SDR = "Rec.1886 Rec.709 - Display"
# A chart: saturated primaries and secondaries, a skin tone, greys; 2 rows of 6 patches of 16x8.
CHART = np.array([[0.9, 0.1, 0.1], [0.1, 0.8, 0.15], [0.1, 0.15, 0.9], [0.85, 0.8, 0.1], [0.1, 0.8, 0.8],
                  [0.8, 0.1, 0.8], [0.8, 0.6, 0.5], [0.05, 0.05, 0.05], [0.5, 0.5, 0.5], [0.95, 0.95, 0.95],
                  [0.3, 0.2, 0.1], [0.2, 0.4, 0.6]], dtype=np.float32)


class ProbeSampler(pipeline.DCVSRSampler):
    """The real sampler (planning, segments, cuts) with the model step replaced by the identity."""

    received: ClassVar[list[np.ndarray]] = []

    def render_segment(self, segment, frames, geo, carry=None, carry_frames=0, progress=None):
        ProbeSampler.received.extend(np.array(f) for f in frames)
        scale = geo.out_h // geo.in_h
        return np.repeat(np.repeat(frames, scale, axis=1), scale, axis=2), None


def chart_rgb() -> np.ndarray:
    patches = CHART.reshape(2, 6, 3)
    return np.repeat(np.repeat(patches, H // 2, axis=0), W // 6, axis=1).astype(np.float32)


def encode(path: Path, frames: list[av.VideoFrame], pix_fmt: str, tags: tuple[int, int, int, int]) -> Path:
    """FFV1 in Matroska with the tags (matrix, transfer, primaries, FFmpeg range 1 limited / 2 full)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        cc = stream.codec_context
        cc.colorspace, cc.color_trc, cc.color_primaries, cc.color_range = tags
        for i, frame in enumerate(frames):
            frame.pts = i
            frame.colorspace, frame.color_trc, frame.color_primaries, frame.color_range = tags
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def sdr_file(path: Path, matrix: int, transfer: int, primaries: int, full: bool) -> Path:
    """The chart through swscale into 8-bit Y'CbCr 4:4:4 with the given matrix and range."""
    rgb = av.VideoFrame.from_ndarray(np.rint(chart_rgb() * 255).astype(np.uint8), format="rgb24")
    rng = ColorRange.JPEG if full else ColorRange.MPEG
    yuv = rgb.reformat(format="yuv444p", dst_colorspace=matrix, dst_color_range=rng)
    return encode(path, [yuv, yuv], "yuv444p", (matrix, transfer, primaries, int(rng)))


def ramp_signal() -> np.ndarray:
    """Every 10-bit limited-range code value 64..940 once, as the decoder reads them (0..1)."""
    codes = np.arange(64, 941)
    return (codes - 64) / 876.0


def grey_file(path: Path, signal: np.ndarray, transfer: int) -> Path:
    """A 10-bit BT.2020 grey frame per W*H signal values (neutral chroma: no matrix involved)."""
    frames = []
    for start in range(0, len(signal), W * H):
        chunk = np.resize(signal[start:start + W * H], W * H)  # pad by repeating
        y = np.rint(64 + 876 * chunk).astype("<u2").reshape(H, W)
        frame = av.VideoFrame(W, H, "yuv444p10le")
        for index, plane in enumerate((y, np.full_like(y, 512), np.full_like(y, 512))):
            padded = np.zeros((H, frame.planes[index].line_size // 2), "<u2")
            padded[:, :W] = plane
            frame.planes[index].update(padded.tobytes())
        frames.append(frame)
    return encode(path, frames, "yuv444p10le", (9, transfer, 9, 1))


def upscale(src: Path, dst: Path, model: Path, monkeypatch, *extra: str) -> tuple[list[np.ndarray], str]:
    """`dcvsr upscale` in this process with the probe; (frames the model received, output clip)."""
    monkeypatch.setattr(pipeline, "DCVSRSampler", ProbeSampler)
    ProbeSampler.received = []
    flags = ["--model", str(model), "--steps", "1", "--tile-size", str(TEST_PRESET["tile_size"]),
             "--scale", "2", "--codec", "ffv1", "--quiet", "--no-scene-cuts", *extra]
    assert cli.main(["upscale", str(src), "-o", str(dst), *flags]) == 0
    return ProbeSampler.received


def decoded(path: Path) -> np.ndarray:
    return np.stack(list(open_clip(path).frames()))


def processor(src: str, dst: str) -> ocio.CPUProcessor:
    return ocio.Config.CreateFromFile(CONFIG).getProcessor(src, dst).getDefaultCPUProcessor()


def apply(proc: ocio.CPUProcessor, values: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=np.float32, copy=True)
    proc.applyRGB(out)
    return out


# -- SDR ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, matrix, transfer, primaries, full", [
    ("rec709 limited", 1, 1, 1, False),
    ("rec709 full", 1, 1, 1, True),
    ("bt601 sd", 6, 6, 6, False),
])
def test_sdr_reaches_the_model_as_its_rgb_and_comes_back(name, matrix, transfer, primaries, full, tmp_path,
                                                          tiny_model_dir, monkeypatch, capsys):
    src = sdr_file(tmp_path / "in.mkv", matrix, transfer, primaries, full)
    received = upscale(src, tmp_path / "out.mkv", tiny_model_dir, monkeypatch, "--pix-fmt", "yuv444p")
    # The model gets the chart's R'G'B' (for SDR Rec.709 and BT.601 OCIO's conversion is the identity).
    assert len(received) == 2
    assert np.abs(received[0] - chart_rgb()).max() < 2.5 / 255, name
    out, back = open_clip(tmp_path / "out.mkv"), decoded(tmp_path / "out.mkv")
    assert np.abs(back[:, ::2, ::2] - decoded(src)).max() < 1e-3
    assert out.colour == open_clip(src).colour  # matrix, transfer, primaries and range
    if primaries == 6:
        assert "BT.601 primaries (6) have no space" in capsys.readouterr().err


def test_bt601_is_decoded_with_its_own_matrix_not_bt709s(tmp_path, tiny_model_dir, monkeypatch):
    src = sdr_file(tmp_path / "in.mkv", 6, 6, 6, False)
    received = upscale(src, tmp_path / "out.mkv", tiny_model_dir, monkeypatch)[0]
    with av.open(str(src)) as container:
        frame = next(container.decode(video=0))
        as_709 = frame.reformat(format="rgb24", src_colorspace=1,
                                src_color_range=ColorRange.MPEG).to_ndarray()
    red = (slice(0, H // 2), slice(0, W // 6))  # the saturated red patch
    expected = CHART[0]
    assert np.abs(received[red] - expected).max() < 2.5 / 255
    # Read with the BT.709 matrix the same samples would give a visibly different red.
    assert np.abs(as_709[red] / 255.0 - expected).max() > 0.05


# -- HDR ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("transfer, space, white_signal, white_in_model", [
    (16, "Rec.2100-PQ - Display", None, 0.904),  # 203 nits: PQ code from OCIO below
    (18, "Rec.2100-HLG - Display", 0.75, 0.917),  # 75% HLG is 203 nits on the 1000-nit display
])
def test_hdr_ramp_round_trips_and_sdr_range_reaches_the_model_as_an_sdr_grade(
        transfer, space, white_signal, white_in_model, tmp_path, tiny_model_dir, monkeypatch):
    if white_signal is None:  # PQ of 203 nits: OCIO's ST 2084 curve (1.0 = 100 nits)
        curve = ocio.Config.CreateRaw().getProcessor(ocio.BuiltinTransform("CURVE - LINEAR_to_ST-2084"))
        white_signal = float(apply(curve.getDefaultCPUProcessor(), np.full((1, 3), 2.03))[0, 0])
    white = np.rint(64 + 876 * white_signal)
    signal = np.concatenate([ramp_signal(), [(white - 64) / 876.0]])
    src = grey_file(tmp_path / "in.mkv", signal, transfer)
    received = upscale(src, tmp_path / "out.mkv", tiny_model_dir, monkeypatch, "--pix-fmt", "yuv444p10le")

    got = np.concatenate([f.reshape(-1, 3) for f in received])[: len(signal)]
    # Up to the knee (0.85: 137 nits) the model gets OpenColorIO's SDR rendering of the input with HDR
    # reference white (203 nits) at SDR white (ITU-R BT.2408); scale computed here, not taken from the code.
    sdr = apply(processor(space, SDR), np.repeat(signal[:, None], 3, axis=1)) * (100 / 203) ** (1 / 2.4)
    below = sdr[:, 0] < 0.85
    assert below.sum() > 400
    assert np.abs(got[below] - sdr[below]).max() < 1e-4
    # Reference white reaches the model near SDR white, below it (room for the highlights).
    assert got[-1, 0] == pytest.approx(white_in_model, abs=2e-3)
    assert np.all(np.diff(got[:-1, 0]) > 0) and got.max() <= 1.0 + 1e-6  # invertible, in range
    # The ramp comes back within one 10-bit code value, and the tags are the input's.
    back = decoded(tmp_path / "out.mkv")[:, ::2, ::2].reshape(-1, 3)[: len(signal)]
    assert np.abs(back - signal[:, None]).max() < 1 / 1023
    assert open_clip(tmp_path / "out.mkv").colour == open_clip(src).colour


def test_an_output_colour_space_converts_and_tags(tmp_path, tiny_model_dir, monkeypatch):
    src = grey_file(tmp_path / "in.mkv", ramp_signal(), 16)
    upscale(src, tmp_path / "out.mkv", tiny_model_dir, monkeypatch,
            "--output-colorspace", "rec2100_hlg_display")
    out = open_clip(tmp_path / "out.mkv")
    assert (out.colour.transfer, out.colour.primaries) == (18, 9)
    expected = apply(processor("Rec.2100-PQ - Display", "Rec.2100-HLG - Display"),
                     np.repeat(ramp_signal()[:, None], 3, axis=1))
    back = decoded(tmp_path / "out.mkv")[:, ::2, ::2].reshape(-1, 3)[: len(ramp_signal())]
    assert np.abs(back - np.clip(expected, 0, 1)).max() < 1 / 1023


def test_an_unknown_colour_space_is_refused_before_rendering(tmp_path, tiny_model_dir, monkeypatch, capsys):
    src = sdr_file(tmp_path / "in.mkv", 1, 1, 1, False)
    monkeypatch.setattr(pipeline, "DCVSRSampler", ProbeSampler)
    code = cli.main(["upscale", str(src), "-o", str(tmp_path / "out.mkv"), "--model", str(tiny_model_dir),
                     "--input-colorspace", "Rec.709 please"])
    assert code == 2
    assert "'Rec.709 please' is not a colour space of the OpenColorIO config" in capsys.readouterr().err
    assert not (tmp_path / "out.mkv").exists()
