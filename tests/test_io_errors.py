"""Unusable inputs raise InputError with a message that names the path and the problem."""

import re

import numpy as np
import pytest
from dcvsr_protocol.errors import InputError
from PIL import Image

from dcvsr_engine.io import open_clip, open_writer


def save_png(path, height, width):
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(path)


def raises_naming(path, *words):
    """pytest.raises for InputError whose message names `path` and contains every word."""
    pattern = re.escape(str(path)) + "".join(f"(?=.*{re.escape(w)})" for w in words)
    return pytest.raises(InputError, match=pattern)


def test_missing_path(tmp_path):
    with raises_naming(tmp_path / "nope.mp4", "no such file"):
        open_clip(tmp_path / "nope.mp4")


def test_empty_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with raises_naming(tmp_path, "no images"):
        open_clip(tmp_path)


def test_text_file_named_mp4(tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is not a video\n" * 50)
    with raises_naming(fake, "not a readable video"):
        open_clip(fake)


def test_unreadable_image_in_folder(tmp_path):
    save_png(tmp_path / "0.png", 10, 10)
    (tmp_path / "1.png").write_text("garbage")
    with raises_naming(tmp_path / "1.png", "not a readable image"):
        open_clip(tmp_path)


def test_images_of_different_sizes_name_the_first_odd_file(tmp_path):
    save_png(tmp_path / "img_1.png", 10, 12)
    save_png(tmp_path / "img_2.png", 10, 12)
    save_png(tmp_path / "img_10.png", 11, 12)  # naturally sorted last, so img_3 is the first odd one
    save_png(tmp_path / "img_3.png", 10, 13)
    with raises_naming(tmp_path / "img_3.png", "13x10", "12x10", "same size"):
        open_clip(tmp_path)


def test_too_small_frames(tmp_path):
    save_png(tmp_path / "0.png", 7, 40)
    with raises_naming(tmp_path, "40x7", "minimum side of 8"):
        open_clip(tmp_path)
    assert open_clip(tmp_path, min_side=4).height == 7  # the minimum is a parameter
    with raises_naming(tmp_path, "minimum side of 16"):
        open_clip(tmp_path, min_side=16)


def test_too_small_video(tmp_path):
    path = tmp_path / "tiny.mkv"
    with open_writer(path, 6, 6, 24, codec="ffv1") as writer:
        writer.write(np.zeros((6, 6, 3), np.float32))
    with raises_naming(path, "6x6", "minimum side of 8"):
        open_clip(path)


def test_video_with_no_video_stream(tmp_path):
    import av

    path = tmp_path / "audio.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with raises_naming(path, "no video stream"):
        open_clip(path)
