"""Scene cuts: the detector on real footage, cut lists from files, and no TAP state across a cut."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from dcvsr_protocol.errors import InputError
from dcvsr_protocol.scenes import (
    CutListError,
    describe_cuts,
    detect_cuts,
    frame_scores,
    frame_to_timecode,
    parse_cut_list,
    timecode_to_frame,
)

from dcvsr_engine.io import open_clip, open_writer
from tests.footage import CITY_CUT, city, city_path, photo_pan
from tests.test_cli import cli_env, command, preset_flags, run_all

FPS = Fraction(25)


# -- the detector --------------------------------------------------------------------------------------
def test_the_real_cut_of_the_city_clip_is_found_at_its_frame():
    clip = open_clip(city_path())
    assert detect_cuts(clip.frames()) == [CITY_CUT]


def test_two_different_real_shots_concatenated_cut_where_the_second_starts():
    first = list(city(20, 40))  # towers at night, the camera moving
    second = photo_pan(15, 405, 720)  # a brick wall in daylight, panned
    assert detect_cuts(first) == [] and detect_cuts(second) == []
    assert detect_cuts(first + second) == [20]
    scores = frame_scores(first + second)
    assert scores[20] > 5 * np.delete(scores, 20).max()  # the cut stands far above the shots' motion


def test_a_still_shot_with_noise_has_no_cut():
    rng = np.random.default_rng(0)
    still = photo_pan(1, 200, 300)[0]
    frames = [np.clip(still + rng.normal(0, 0.03, still.shape), 0, 1) for _ in range(20)]
    assert detect_cuts(frames) == []


def test_the_detector_takes_integer_frames_like_float_ones():
    frames = list(city(CITY_CUT - 8, CITY_CUT + 8))
    as_u8 = [np.rint(f * 255).astype(np.uint8) for f in frames]
    assert detect_cuts(as_u8) == detect_cuts(frames) == [8]


# -- cut lists -------------------------------------------------------------------------------------------
EDL = """TITLE: CITY
FCM: NON-DROP FRAME

001  AX       V     C        00:00:10:00 00:00:14:16 01:00:00:00 01:00:04:16
* FROM CLIP NAME: towers_a.mov
002  AX       AA    C        00:00:10:00 00:00:14:16 01:00:00:00 01:00:04:16
003  AX       V     C        00:01:00:00 00:01:03:00 01:00:04:16 01:00:07:16
004  BL       V     D    012 00:00:00:00 00:00:02:00 01:00:07:16 01:00:09:16
M2   AX       050.0                00:01:00:00
"""


def test_an_edl_a_frame_list_and_timecodes_give_the_same_cuts():
    from_edl = parse_cut_list(EDL, FPS, 300)
    assert from_edl == [116, 191]  # record-ins 01:00:04:16 and 01:00:07:16 from 01:00:00:00, at 25 fps
    assert parse_cut_list("116\n191\n", FPS, 300) == from_edl
    assert parse_cut_list("# cuts\n00:00:04:16, 00:00:07:16  # two\n", FPS, 300) == from_edl
    assert parse_cut_list("0 4.64s 00:00:07.640", FPS, 300) == from_edl  # seconds; 0 is not a cut


@pytest.mark.parametrize("text, message", [
    ("12 twelve", "line 1: 'twelve' is not a frame number"),
    ("10\n00:00:01:30", "line 2: '00:00:01:30'"),  # 30 frames at 25 fps
    ("400", "cuts at frames [400] lie outside the clip's frames 0..299"),
    ("TITLE: X\n001  AX  A  C  00:00:00:00 00:00:01:00 01:00:00:00 01:00:01:00\n", "no video events"),
    ("00:00:01;00", "drop-frame timecode '00:00:01;00' needs a 29.97 or 59.94 fps clip"),
])
def test_bad_cut_lists_name_the_line_and_the_entry(text, message):
    with pytest.raises(CutListError, match=None) as info:
        parse_cut_list(text, FPS, 300, "cuts.txt")
    assert message in str(info.value) and "cuts.txt" in str(info.value)


def test_timecodes_drop_frame_included():
    ntsc = Fraction(30000, 1001)
    assert timecode_to_frame("00:01:00;02", ntsc) == 1800  # ;00 and ;01 do not exist at minute 1
    assert timecode_to_frame("00:10:00;00", ntsc) == 17982
    assert frame_to_timecode(1800, ntsc) == "00:01:00;02" and frame_to_timecode(1799, ntsc) == "00:00:59;29"
    for frame in (0, 1, 1799, 1800, 17981, 17982, 17983, 107892, 123456):
        assert timecode_to_frame(frame_to_timecode(frame, ntsc), ntsc) == frame
    assert frame_to_timecode(116, FPS) == "00:00:04:16"
    assert describe_cuts([116], FPS) == "1 scene cut (frame and timecode): 116 (00:00:04:16)"
    with pytest.raises(ValueError, match="does not exist"):
        timecode_to_frame("00:01:00;01", ntsc)


# -- through the command: no state crosses a cut -----------------------------------------------------------
FACTOR, CUT = 10, 8  # 72x40 frames; the city's own cut 8 frames into the test clip


def write(path: Path, frames: list[np.ndarray]) -> Path:
    h, w = frames[0].shape[:2]
    with open_writer(path, w, h, FPS, codec="ffv1") as writer:
        for frame in frames:
            writer.write(frame)
    return path


@pytest.fixture(scope="module")
def renders(tiny_model_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("cuts")
    shots = list(city(CITY_CUT - CUT, CITY_CUT + 8, FACTOR))
    clip = write(work / "city.mkv", shots)
    second_shot = write(work / "second_shot.mkv", shots[CUT:])
    (work / "cuts.edl").write_text("TITLE: T\n001  A  V  C  00:00:00:00 00:00:00:08 01:00:00:00 01:00:00:08\n"
                                   "002  B  V  C  00:00:00:00 00:00:00:08 01:00:00:08 01:00:00:16\n")
    flags = [*preset_flags(tiny_model_dir), "--codec", "ffv1"]
    runs = {"detected": (clip, []), "alone": (second_shot, []), "off": (clip, ["--no-scene-cuts"]),
            "edl": (clip, ["--scene-cuts", work / "cuts.edl"])}
    env = cli_env(work)
    chains = [[(name, command("upscale", src, "-o", work / f"{name}.mkv", *flags, *extra), env)]
              for name, (src, extra) in runs.items()]
    results = run_all(chains, work)
    for name, result in results.items():
        assert result.returncode == 0, f"{name}: {result.stderr}"
    return {name: (results[name], np.stack(list(open_clip(work / f"{name}.mkv").frames()))) for name in runs}


def test_the_cut_is_detected_and_logged_with_its_timecode(renders):
    assert "1 scene cut (frame and timecode): 8 (00:00:00:08) (detected)" in renders["detected"][0].stderr
    assert "no scene cuts (off)" in renders["off"][0].stderr


def test_no_state_crosses_the_cut(renders):
    detected, alone, off = (renders[name][1] for name in ("detected", "alone", "off"))
    # After the cut the output is a render of the second shot alone, bit for bit.
    assert len(alone) == len(detected) - CUT
    assert np.array_equal(detected[CUT:], alone)
    # Without the cut, TAP carries the first shot into the second: the test can see a crossing.
    assert not np.array_equal(detected[CUT:], off[CUT:])


def test_an_edl_renders_as_the_detected_cut(renders):
    assert np.array_equal(renders["edl"][1], renders["detected"][1])
    assert f"(file {Path(renders['edl'][0].args[4]).parent / 'cuts.edl'})" in renders["edl"][0].stderr


def test_the_job_s_cut_list_from_a_file_detection_or_none(tmp_path):
    from dcvsr_engine.io import clip_from_frames
    from dcvsr_engine.io.scenes import scene_cuts

    frames = list(city(CITY_CUT - 8, CITY_CUT + 8, FACTOR))
    clip = clip_from_frames(frames, fps=25)
    (tmp_path / "cuts.txt").write_text("00:00:00:05\n")
    assert scene_cuts(clip).to_json() == {"cuts": [8], "origin": "detected"}
    assert scene_cuts(clip, tmp_path / "cuts.txt").cuts == (5,)
    assert scene_cuts(clip, detect=False).to_json() == {"cuts": [], "origin": "off"}
    (tmp_path / "bad.txt").write_text("5 99\n")
    with pytest.raises(InputError, match=r"bad\.txt: cuts at frames \[99\] lie outside"):
        scene_cuts(clip, tmp_path / "bad.txt")
