"""Outputs appear complete or not at all: errors, interrupts and existing outputs."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from dcvsr_protocol.errors import InputError, OutputError

from dcvsr_engine.io import check_output, open_clip, open_writer

FRAME = np.full((16, 24, 3), 0.5, np.float32)
REPO = Path(__file__).resolve().parents[1]


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".dcvsr-" in p.name)


@pytest.mark.parametrize("name", ["out.mp4", "frames"])
def test_exception_mid_write_leaves_nothing(tmp_path, name):
    target = tmp_path / name
    with pytest.raises(RuntimeError, match="boom"), open_writer(target, 24, 16, 24) as writer:
        writer.write(FRAME)
        writer.write(FRAME)
        assert writer.partial.exists() and not target.exists()  # work really was under way
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_frame_is_an_input_error_and_aborts(tmp_path):
    target = tmp_path / "out.mkv"
    bad = FRAME.copy()
    bad[2, 3, 1] = np.nan
    with pytest.raises(InputError, match=r"frame 1 .*NaN"), open_writer(target, 24, 16, 24) as writer:
        writer.write(FRAME)
        writer.write(bad)
    assert list(tmp_path.iterdir()) == []
    with open_writer(target, 24, 16, 24) as writer:
        with pytest.raises(InputError, match="30x16"):
            writer.write(np.zeros((16, 30, 3), np.float32))
        with pytest.raises(InputError, match=r"\(height, width, 3\)"):
            writer.write(np.zeros((16, 24), np.float32))
        writer.write(FRAME)  # a refused frame leaves the writer usable
    assert open_clip(target).num_frames == 1


def test_missing_output_folder_fails_before_any_work(tmp_path):
    target = tmp_path / "no" / "such" / "out.mp4"
    with pytest.raises(OutputError, match=re.escape(str(tmp_path / "no" / "such"))):
        check_output(target)
    with pytest.raises(OutputError, match="does not exist"):
        open_writer(target, 24, 16, 24)
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("name", ["out.mp4", "frames"])
def test_existing_output_needs_overwrite(tmp_path, name):
    target = tmp_path / name
    if name == "frames":
        target.mkdir()
        (target / "frame_000000.png").write_bytes(b"old")
    else:
        target.write_bytes(b"old")
    with pytest.raises(OutputError, match="already exists"):
        open_writer(target, 24, 16, 24)
    with pytest.raises(OutputError, match="already exists"):
        check_output(target)
    old = target / "frame_000000.png" if name == "frames" else target
    assert old.read_bytes() == b"old"

    with open_writer(target, 24, 16, 24, overwrite=True) as writer:
        writer.write(FRAME)
        assert old.read_bytes() == b"old"  # replaced only at the end
        writer.write(FRAME)
    clip = open_clip(target)
    assert clip.num_frames == 2 and (clip.width, clip.height) == (24, 16)
    assert leftovers(tmp_path) == []


def test_overwrite_refuses_to_delete_a_folder_of_other_files(tmp_path):
    target = tmp_path / "photos"
    target.mkdir()
    (target / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(OutputError, match=r"holiday\.jpg"):
        open_writer(target, 24, 16, 24, overwrite=True)
    assert (target / "holiday.jpg").read_bytes() == b"precious"


def test_failed_overwrite_keeps_old_output(tmp_path):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), open_writer(target, 24, 16, 24, overwrite=True) as writer:
        writer.write(FRAME)
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_closing_without_frames_saves_nothing(tmp_path):
    with pytest.raises(OutputError, match="no frames"), open_writer(tmp_path / "out.mp4", 24, 16, 24):
        pass
    assert list(tmp_path.iterdir()) == []


# A process started in the background by a non-interactive shell inherits SIGINT as ignored, and Python
# then installs no KeyboardInterrupt handler: restore it, so the test does not depend on how it was run.
SLOW_WRITER = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np
from dcvsr_engine.io import open_writer
frame = np.full((64, 64, 3), 0.5, np.float32)
with open_writer(sys.argv[1], 64, 64, 24) as writer:
    for i in range(10_000):
        writer.write(frame)
        if i == 2:
            print("writing", flush=True)
        time.sleep(0.02)
"""


def test_sigint_while_writing_leaves_nothing(tmp_path):
    target = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout.readline().strip() == b"writing"
        time.sleep(0.1)
        assert leftovers(tmp_path), "the partial file should exist while writing"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0 and b"KeyboardInterrupt" in err
    assert list(tmp_path.iterdir()) == []
