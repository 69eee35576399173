"""Smoke test against a real VapourSynth core.

The core runs in a subprocess so that a crash in native code cannot take pytest down with it.
A missing ``vapoursynth`` module is a failure, not a skip: run ``scripts/install-vapoursynth``
(the project's test command does so first).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

WIDTH, HEIGHT, LENGTH = 64, 48, 3
COLOR = (0.25, 0.5, 0.75)

INSTALL_HINT = (
    "`import vapoursynth` failed in {exe}; run `scripts/install-vapoursynth {exe}` "
    "to install a VapourSynth core into this environment.\n{detail}"
)

CORE_SCRIPT = r"""
import json
import sys

import numpy as np
import vapoursynth as vs

width, height, length, color, y4m_path = json.loads(sys.argv[1])
core = vs.core
core.num_threads = 1

clip = core.std.BlankClip(width=width, height=height, format=vs.RGBS, length=length, color=color)
yuv = core.resize.Bicubic(clip, format=vs.YUV420P10, matrix_s="709")
rgb = core.resize.Bicubic(yuv, format=vs.RGBS, matrix_in_s="709")

yuv_frame = yuv.get_frame(0)
yuv_planes = [np.asarray(yuv_frame[i]) for i in range(yuv_frame.format.num_planes)]
rgb_frame = rgb.get_frame(0)
rgb_planes = [np.asarray(rgb_frame[i]) for i in range(rgb_frame.format.num_planes)]

with open(y4m_path, "wb") as fh:
    yuv.output(fh, y4m=True)

print(json.dumps({
    "num_frames": rgb.num_frames,
    "yuv_format": yuv.format.name,
    "yuv_shapes": [list(p.shape) for p in yuv_planes],
    "yuv_dtypes": [str(p.dtype) for p in yuv_planes],
    "yuv_max": [int(p.max()) for p in yuv_planes],
    "rgb_shapes": [list(p.shape) for p in rgb_planes],
    "rgb_dtypes": [str(p.dtype) for p in rgb_planes],
    "rgb_mean": [float(p.mean()) for p in rgb_planes],
    "matrix": yuv_frame.props.get("_Matrix"),
}))
"""


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.timeout(120)
def test_vapoursynth_core_resize_and_y4m(tmp_path: Path) -> None:
    probe = _run(["-c", "import vapoursynth"], timeout=60)
    if probe.returncode != 0:
        pytest.fail(INSTALL_HINT.format(exe=sys.executable, detail=probe.stderr.strip()))

    y4m = tmp_path / "out.y4m"
    proc = _run(["-c", CORE_SCRIPT, json.dumps([WIDTH, HEIGHT, LENGTH, list(COLOR), str(y4m)])], timeout=90)
    assert proc.returncode == 0, f"core subprocess failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])

    assert result["num_frames"] == LENGTH
    assert result["yuv_format"] == "YUV420P10"
    assert result["matrix"] == 1
    cw, ch = WIDTH // 2, HEIGHT // 2
    assert result["yuv_shapes"] == [[HEIGHT, WIDTH], [ch, cw], [ch, cw]]
    assert result["yuv_dtypes"] == ["uint16"] * 3
    assert all(0 < m < 1024 for m in result["yuv_max"])
    assert result["rgb_shapes"] == [[HEIGHT, WIDTH]] * 3
    assert result["rgb_dtypes"] == ["float32"] * 3
    for got, want in zip(result["rgb_mean"], COLOR, strict=True):
        assert got == pytest.approx(want, abs=0.01)

    data = y4m.read_bytes()
    header, sep, _ = data.partition(b"\n")
    assert sep, "y4m file has no header line"
    tokens = header.split()
    assert tokens[0] == b"YUV4MPEG2"
    for token in (f"W{WIDTH}", f"H{HEIGHT}", "F24:1", "C420p10"):
        assert token.encode() in tokens, (token, header)
    frame_bytes = (WIDTH * HEIGHT + 2 * cw * ch) * 2
    assert data.count(b"FRAME\n") == LENGTH
    assert len(data) == len(header) + 1 + LENGTH * (len(b"FRAME\n") + frame_bytes)
