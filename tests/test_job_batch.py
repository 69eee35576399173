"""Batches, bad input, output names, progress and --dry-run of `dcvsr upscale`, on real files.

Each case runs the command in this process (torch is loaded once) on the tiny model. Every bad
input ends with a clear message, a non-zero exit, nothing under the final name, and in a batch
the other inputs are still done.
"""

from __future__ import annotations

import json
import subprocess
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from dcvsr_engine.cli import main
from dcvsr_engine.io import open_clip
from tests.media import write_av_file
from tests.test_job_files import flags

SIZE = (40, 32)


def run(capsys, *args: str | Path) -> tuple[int, str, str]:
    status = main(["upscale", *map(str, args)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".dcvsr-" in p.name)


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        sound = out.add_stream("flac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return path


def unknown_codec(path: Path, good: Path) -> Path:
    """A Matroska file whose video codec ID names no codec FFmpeg has."""
    data = good.read_bytes()
    assert data.count(b"V_FFV1") == 1
    path.write_bytes(data.replace(b"V_FFV1", b"V_ZZZZ"))
    return path


def interlaced(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        flags_ = av.codec.context.Flags
        video.codec_context.flags |= flags_.interlaced_dct | flags_.interlaced_me
        video.options = {"x264-params": "tff=1"}
        for i in range(4):
            rgb = np.full((SIZE[1], SIZE[0], 3), 40 * i, np.uint8)
            rgb[::2] = 255 - rgb[::2]  # the two fields differ
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("media")
    good = write_av_file(work / "good.mkv", 4, SIZE)
    truncated = work / "truncated.mkv"
    truncated.write_bytes(good.read_bytes()[:300])
    return {
        "good": good,
        "second": write_av_file(work / "second.mkv", 3, SIZE, rate=Fraction(25)),
        "truncated": truncated,
        "no video": audio_only(work / "sound.mka"),
        "unknown codec": unknown_codec(work / "zzzz.mkv", good),
        "interlaced": interlaced(work / "interlaced.mkv"),
    }


def test_unknown_output_suffix_is_an_error_listing_the_known_ones(capsys, media, tmp_path, tiny_model_dir):
    status, _, err = run(capsys, media["good"], "-o", tmp_path / "result.mp5", *flags(tiny_model_dir))
    assert status == 2
    assert "unknown output suffix '.mp5'" in err and ".mp4, .mkv, .mov, .avi, .webm" in err
    assert "a name without a suffix or ending in '/'" in err
    status, _, err = run(capsys, media["good"], "-o", tmp_path / "still.png", *flags(tiny_model_dir))
    assert status == 2 and "image sequences are written into a folder" in err
    assert list(tmp_path.iterdir()) == []


def test_a_folder_name_with_a_dot_needs_a_trailing_slash(capsys, media, tmp_path, tiny_model_dir):
    status, _, err = run(capsys, media["second"], "-o", f"{tmp_path / 'take.v2'}/", *flags(tiny_model_dir))
    assert status == 0, err
    names = sorted(p.name for p in (tmp_path / "take.v2").iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(3)]


def test_a_stream_the_container_cannot_hold_is_named_first(capsys, media, tmp_path, tiny_model_dir):
    status, _, err = run(capsys, media["good"], "-o", tmp_path / "out.mp4", *flags(tiny_model_dir))
    assert status == 2
    assert "subtitle, srt, deu" in err and "a .mkv output can hold it" in err and "--no-subtitles" in err
    assert "frames" not in err  # refused before any rendering
    assert list(tmp_path.iterdir()) == []
    status, _, err = run(capsys, media["good"], "-o", tmp_path / "out.mp4", "--no-subtitles",
                         *flags(tiny_model_dir))
    assert status == 0, err
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert [s.type for s in container.streams][:2] == ["video", "audio"]
        assert not container.streams.subtitles


def test_interlaced_input_is_refused_unless_deinterlaced(capsys, media, tmp_path, tiny_model_dir):
    status, _, err = run(capsys, media["interlaced"], "-o", tmp_path / "out.mkv", *flags(tiny_model_dir))
    assert status == 2 and "interlaced (top field first)" in err and "--deinterlace" in err
    assert list(tmp_path.iterdir()) == []
    status, _, err = run(capsys, media["interlaced"], "-o", tmp_path / "out.mkv", "--deinterlace",
                         *flags(tiny_model_dir))
    assert status == 0, err
    assert open_clip(tmp_path / "out.mkv").num_frames == 4


def test_batch_with_bad_inputs_does_the_good_ones(capsys, media, tmp_path, tiny_model_dir):
    folder = tmp_path / "out"
    folder.mkdir()
    inputs = [media[k] for k in ("good", "truncated", "no video", "unknown codec")]
    status, _, err = run(capsys, *inputs, str(media["second"].parent / "sec*.mkv"), "-o", folder,
                         *flags(tiny_model_dir))
    assert status == 2
    assert sorted(p.name for p in folder.iterdir()) == ["good.mkv", "second.mkv"]
    assert open_clip(folder / "good.mkv").num_frames == 4
    assert open_clip(folder / "second.mkv").num_frames == 3
    table = err[err.index("input "):]
    for name, words in (("truncated.mkv", "not a readable video file"), ("sound.mka", "no video stream"),
                        ("zzzz.mkv", "unsupported codec")):
        line = next(row for row in table.splitlines() if name in row)
        assert "failed" in line and words in line, line
    assert sum("done" in row for row in table.splitlines()) == 2


def test_progress_json_moves_per_frame(capsys, media, tmp_path, tiny_model_dir):
    status, out, err = run(capsys, media["good"], media["second"], "-o", tmp_path, "--progress", "json",
                           *flags(tiny_model_dir))
    assert status == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["start", *["frame"] * 4, "end", "start", *["frame"] * 3, "end",
                                           "summary"]
    frames = [e for e in events if e["event"] == "frame"]
    assert [e["frame"] for e in frames] == [1, 2, 3, 4, 1, 2, 3]
    assert [e["overall_frame"] for e in frames] == list(range(1, 8))
    assert all(e["overall_frames"] == 7 and e["fps"] > 0 for e in frames)
    assert frames[-1]["eta_s"] == 0 and events[-1] == {"event": "summary", "done": 2, "failed": 0}


def test_quiet_draws_no_bars_and_bars_count_frames(capsys, media, tmp_path, tiny_model_dir):
    status, _, err = run(capsys, media["second"], "-o", tmp_path / "a.mkv", *flags(tiny_model_dir))
    assert status == 0 and "wrote" in err and "3/3 frames" not in err and "frames [" not in err
    status, _, err = run(capsys, media["second"], "-o", tmp_path / "b.mkv",
                         *[f for f in flags(tiny_model_dir) if f != "--quiet"])
    assert status == 0 and "3/3 frames" in err


def test_dry_run_estimates_and_writes_nothing(capsys, media, tmp_path, tiny_model_dir):
    status, _, err = run(capsys, media["good"], media["second"], "-o", tmp_path, "--dry-run",
                         *flags(tiny_model_dir))
    assert status == 0, err
    assert "measured" in err and "s per frame" in err
    assert "good.mkv -> " in err and "second.mkv -> " in err and "libx264 yuv420p" in err
    assert "2 job(s), about" in err
    assert list(tmp_path.iterdir()) == []


@contextmanager
def tmpfs(path: Path, options: str):
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_full_disk_and_read_only_folder(capsys, media, tmp_path, tiny_model_dir):
    with tmpfs(tmp_path / "small", "size=96k") as small, tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        status, _, err = run(capsys, media["good"], "-o", small / "out.mkv", "--preset", "archive",
                             *flags(tiny_model_dir))
        assert status == 2 and "No space left on device" in err, err
        assert list(small.iterdir()) == []  # no output, no partial files, no journal
        status, _, err = run(capsys, media["good"], "-o", ro / "out.mkv", *flags(tiny_model_dir))
        assert status == 2 and f"output folder {ro} is not writable" in err
        assert list(ro.iterdir()) == []
