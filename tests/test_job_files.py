"""Round trips of `dcvsr upscale` through every output codec and preset on real files written with
PyAV: frame count, each frame's timestamp (constant, 24000/1001 and variable rate, a start after
zero), size x scale, colour tags, sound and subtitle packets byte-identical, chapters and tags;
and the same command twice gives the same bytes for every codec.

The commands run in this process (torch is loaded once) on the tiny model with the test preset.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import pytest

from dcvsr_engine.cli import main
from dcvsr_engine.io import open_clip
from tests.conftest import TEST_PRESET, TORCH_THREADS
from tests.media import output_bytes, packets, write_av_file

SIZE = (40, 32)  # input width, height; doubled, more than libx265's one coding unit wide (codecs.py)
FRAMES = 9       # two segments of the test preset (8 + 1) with --segment-frames 8
VFR_STAMPS = [0, 1000, 1500, 3500, 4000, 4250, 6000, 6500, 9000]  # milliseconds apart, irregularly


def flags(model: Path) -> list[str]:
    return ["--model", str(model), "--threads", str(TORCH_THREADS), "--steps", "1", "--quiet",
            "--tile-size", str(TEST_PRESET["tile_size"]), "--tile-frames", "6", "--segment-frames", "8",
            "--decode-chunk", "6", "--scale", "2"]


# name: (source, output name, extra flags, expected codec, expected pixel format)
CASES = {
    "x264 mkv": ("mkv", "x264.mkv", [], "h264", "yuv420p"),
    "x265 10-bit mkv": ("mkv", "x265.mkv", ["--codec", "libx265"], "hevc", "yuv420p10le"),
    "x265 8-bit mp4": ("mp4", "x265.mp4", ["--codec", "libx265", "--pix-fmt", "yuv420p"], "hevc", "yuv420p"),
    "prores 422 hq": ("mp4", "edit.mov", ["--preset", "edit"], "prores", "yuv422p10le"),
    # FFmpeg decodes ProRes 4444 to 12 bits whatever it was encoded from.
    "prores 4444": ("mkv", "p4444.mkv", ["--codec", "prores_ks", "--pix-fmt", "yuv444p10le"], "prores",
                    "yuv444p12le"),
    "ffv1 archive": ("mkv", "archive.mkv", ["--preset", "archive"], "ffv1", "yuv444p10le"),
    "web": ("mp4", "web.mp4", ["--preset", "web", "--crf", "20"], "h264", "yuv420p"),
    "vfr mkv": ("vfr", "vfr.mkv", [], "h264", "yuv420p"),
    "vp9 webm": ("mkv", "vp9.webm", ["--no-audio", "--no-subtitles"], "vp9", "yuv420p"),
    "png folder": ("mkv", "frames_png/", ["--codec", "png"], None, None),
    "tiff folder": ("mkv", "frames_tif/", ["--codec", "tiff"], None, None),
}


@dataclass
class Runs:
    sources: dict[str, Path]
    first: dict[str, tuple[int, Path]]
    second: dict[str, tuple[int, Path]]


@pytest.fixture(scope="module")
def runs(tiny_model_dir, tmp_path_factory) -> Runs:
    work = tmp_path_factory.mktemp("files")
    sources = {
        # Video starting after zero at 24000/1001, FLAC sound, SubRip subtitles, chapters.
        "mkv": write_av_file(work / "src.mkv", FRAMES, SIZE, start=5005),
        # AAC sound and mov_text subtitles, which MP4 and QuickTime hold.
        "mp4": write_av_file(work / "src.mp4", FRAMES, SIZE, codec="libx264", rate=Fraction(25),
                             time_base=Fraction(1, 12800)),
        "vfr": write_av_file(work / "vfr.mkv", FRAMES, SIZE, stamps=VFR_STAMPS, time_base=Fraction(1, 1000),
                             rate=Fraction(1)),
    }
    first, second = {}, {}
    for name, (src, out, extra, _, _) in CASES.items():
        for results, folder in ((first, work / "a"), (second, work / "b")):
            folder.mkdir(exist_ok=True)
            target = str(folder / out)
            status = main(["upscale", str(sources[src]), "-o", target, *flags(tiny_model_dir), *extra])
            results[name] = (status, Path(target))
    return Runs(sources, first, second)


def stream_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(round(float(p.pts * p.time_base), 3) for p in container.demux(stream) if p.size)


@pytest.mark.parametrize("name", CASES)
def test_round_trip(runs, name):
    src_name, _, _, codec, pix_fmt = CASES[name]
    status, out = runs.first[name]
    source = runs.sources[src_name]
    assert status == 0
    clip, original = open_clip(out), open_clip(source)
    assert (clip.num_frames, clip.width, clip.height) == (FRAMES, 2 * SIZE[0], 2 * SIZE[1])
    if codec is None:
        assert sorted(p.suffix for p in out.iterdir()) == [".png" if "png" in name else ".tif"] * FRAMES
        return
    assert stream_times(out) == stream_times(source)  # every frame where the input had it
    assert clip.fps == original.fps or src_name == "vfr"
    assert clip.colour == original.colour
    with av.open(str(out)) as got, av.open(str(source)) as want:
        video = got.streams.video[0]
        assert (video.codec_context.name, video.codec_context.pix_fmt) == (codec, pix_fmt)
        assert got.metadata.get("title") == "test clip"
        # (MP4 and QuickTime add a text track for the chapters; QuickTime keeps no subtitle language.)
        languages = [s.metadata.get("language") for s in got.streams if s.type != "data"]
        if "--no-audio" in CASES[name][2]:
            assert languages == ["eng"]
            return
        assert languages == ["eng", "fra", None if out.suffix == ".mov" else "deu"]
        assert [(c["metadata"], float(c["start"] * c["time_base"])) for c in got.chapters()] == \
            [(c["metadata"], float(c["start"] * c["time_base"])) for c in want.chapters()]
    assert packets(out, "audio") == packets(source, "audio")  # byte for byte, at the same times
    assert packets(out, "subtitles") == packets(source, "subtitles")


@pytest.mark.parametrize("name", CASES)
def test_same_command_twice_gives_the_same_bytes(runs, name):
    (status_a, a), (status_b, b) = runs.first[name], runs.second[name]
    assert status_a == status_b == 0
    assert output_bytes(a) == output_bytes(b)


def test_encoding_overlaps_the_next_segments_render(tiny_model_dir, tmp_path, monkeypatch):
    """Segment k is stored (encoded, journalled) on a background thread while k + 1 renders."""
    import threading
    import time

    from dcvsr_engine.job import render
    from dcvsr_engine.sampler.pipeline import DCVSRSampler

    events: list[tuple[str, int, float, str]] = []
    store, render_segment = render._store_segment, DCVSRSampler.render_segment

    def slow_store(files, seg, *args):
        events.append(("store", seg.index, time.monotonic(), threading.current_thread().name))
        time.sleep(0.5)  # a slow encoder
        store(files, seg, *args)
        events.append(("stored", seg.index, time.monotonic(), threading.current_thread().name))

    def timed_render(self, segment, *args, **kwargs):
        events.append(("render", segment.index, time.monotonic(), threading.current_thread().name))
        return render_segment(self, segment, *args, **kwargs)

    monkeypatch.setattr(render, "_store_segment", slow_store)
    monkeypatch.setattr(DCVSRSampler, "render_segment", timed_render)
    source = write_av_file(tmp_path / "src.mkv", 18, SIZE)
    assert main(["upscale", str(source), "-o", str(tmp_path / "out.mkv"), *flags(tiny_model_dir),
                 "--segment-frames", "6"]) == 0
    when = {(kind, index): t for kind, index, t, _ in events}
    assert {thread for kind, _, _, thread in events if kind != "render"} != {threading.current_thread().name}
    assert when[("render", 1)] < when[("stored", 0)] and when[("render", 2)] < when[("stored", 1)]
    assert open_clip(tmp_path / "out.mkv").num_frames == 18
