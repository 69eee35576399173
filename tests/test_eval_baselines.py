"""LR input, classical baselines and the small pieces of the `dcvsr eval` runner."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from dcvsr_protocol.errors import InputError, SettingsError
from PIL import Image

from dcvsr_engine.evaluation import baselines as B
from dcvsr_engine.evaluation import metrics as M
from dcvsr_engine.evaluation import runner as R


def smooth_clip(t: int = 2, h: int = 64, w: int = 48) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = []
    for i in range(t):
        v = 0.5 + 0.3 * np.sin(2 * np.pi * (xs - i) / 29) * np.cos(2 * np.pi * ys / 37)
        frames.append(np.stack([v, 0.5 * v + 0.2, 1 - v], -1))
    return np.asarray(frames, dtype=np.float32)


def test_bicubic_and_lanczos_beat_nearest_on_a_smooth_clip():
    gt = smooth_clip()
    lr = B.downscale_clean(gt, 4)
    assert lr.shape == (2, 16, 12, 3) and lr.dtype == np.float32
    scores = {name: M.clip_mean(M.psnr, fn(lr, 4), gt)
              for name, fn in (("nearest", B.upscale_nearest), ("bicubic", B.upscale_bicubic),
                               ("lanczos", B.upscale_lanczos))}
    assert scores["bicubic"] > scores["nearest"] + 3
    assert scores["lanczos"] > scores["nearest"] + 3
    for fn in (B.upscale_bicubic, B.upscale_lanczos, B.upscale_nearest):
        out = fn(lr, 4)
        assert out.shape == gt.shape and out.min() >= 0 and out.max() <= 1


def test_downscale_is_antialiased_bicubic():
    flat = np.full((1, 16, 16, 3), 0.25, np.float32)
    assert np.allclose(B.downscale_clean(flat, 4), 0.25, atol=1e-6)
    # The same as PIL's bicubic on each channel (an independent call on one channel).
    gt = smooth_clip(1)
    ref = np.asarray(Image.fromarray(np.ascontiguousarray(gt[0, ..., 1])).resize((12, 16), Image.BICUBIC))
    assert np.allclose(B.downscale_clean(gt, 4)[0, ..., 1], np.clip(ref, 0, 1), atol=1e-6)
    # A checkerboard at the HR Nyquist frequency averages out instead of aliasing.
    board = (np.indices((16, 16)).sum(0) % 2).astype(np.float32)
    lr = B.downscale_clean(np.repeat(board[None, ..., None], 3, -1), 4)
    assert np.abs(lr - 0.5).max() < 0.05
    with pytest.raises(ValueError, match="multiple"):
        B.downscale_clean(np.zeros((1, 10, 16, 3), np.float32), 4)
    assert B.crop_to_multiple(np.zeros((1, 10, 17, 3)), 4).shape == (1, 8, 16, 3)


def test_realistic_degradation(monkeypatch):
    gt = smooth_clip()
    assert np.array_equal(R.make_lr(gt, 4, "clean"), B.downscale_clean(gt, 4))
    with pytest.raises(SettingsError):
        R.make_lr(gt, 4, "blurry")
    if importlib.util.find_spec(R.DEGRADE_MODULE) is not None:
        a, b, c = (R.make_lr(gt, 4, "realistic", seed) for seed in (1, 1, 2))
        assert a.shape == (2, 16, 12, 3) and a.dtype == np.float32
        assert np.array_equal(a, b) and not np.array_equal(a, c)  # one reproducible draw per seed
    monkeypatch.setattr(R, "DEGRADE_MODULE", "dcvsr_engine.no_such_package.degrade")
    with pytest.raises(InputError, match=r"degrade\.py"):
        R.make_lr(gt, 4, "realistic")


def test_variants_and_clip_discovery(tmp_path):
    assert R.parse_variants("default, no-sap,no-dssag,default") == ["default", "no-sap", "no-dssag"]
    assert R.parse_variants("none") == []
    with pytest.raises(SettingsError, match="no-such"):
        R.parse_variants("default,no-such")
    assert R.VARIANTS["no-sap"] == {"sap": False} and R.VARIANTS["no-tap"] == {"tap": False}
    frame = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
    for name in ("b", "a"):
        (tmp_path / "set" / name).mkdir(parents=True)
        frame.save(tmp_path / "set" / name / "0.png")
    (tmp_path / "set" / "notes.txt").write_text("not a clip")
    assert [p.name for p in R.find_clips([tmp_path / "set"])] == ["a", "b"]
    assert R.find_clips([tmp_path / "set" / "a"]) == [tmp_path / "set" / "a"]  # an image folder is a clip
    with pytest.raises(InputError):
        R.find_clips([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no"):
        R.find_clips([tmp_path / "empty"])


def test_pick_crop_finds_the_detail():
    frame = np.full((64, 64, 3), 0.5, np.float32)
    frame[40:56, 8:24] = np.random.default_rng(0).random((16, 16, 3))
    top, left = R.pick_crop(frame, 32)
    assert top <= 40 and top + 32 >= 56 and left <= 8 and left + 32 >= 24
