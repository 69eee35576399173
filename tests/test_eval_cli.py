"""`dcvsr eval` end to end on two tiny clips with the tiny model: the table, the PNG and the JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from dcvsr_engine.cli import main
from tests.conftest import TEST_PRESET, TORCH_THREADS

pytest.importorskip("cv2")

SIZES = {"a": (32, 32), "b": (32, 80)}  # (height, width); b is wide enough for two tiles of 8 latents
FRAMES = 4
METHODS = ["LR-bicubic", "Lanczos", "DC-VSR full", "DC-VSR no-sap"]


def render(h: int, w: int, t: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    v = 0.5 + 0.25 * np.sin(2 * np.pi * (xs - t) / 21) * np.cos(2 * np.pi * (ys - 0.5 * t) / 17)
    return np.clip(np.stack([v, 0.8 * v + 0.1, 1 - v], -1), 0, 1)


@pytest.fixture(scope="module")
def clip_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval") / "set"
    for name, (h, w) in SIZES.items():
        (root / name).mkdir(parents=True)
        for t in range(FRAMES):
            pixels = np.rint(render(h, w, t) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{t:04d}.png")
    return root


@pytest.fixture(scope="module")
def evaluated(clip_set, tiny_model_dir, tmp_path_factory):
    report = tmp_path_factory.mktemp("report") / "out"
    argv = ["eval", "--hr", str(clip_set), "--scale", "4", "--report", str(report),
            "--model", str(tiny_model_dir), "--device", "cpu", "--dtype", "fp32",
            "--threads", str(TORCH_THREADS), "--variants", "full,no-sap", "--steps", "2",
            "--tile-size", "8", "--tile-frames", str(TEST_PRESET["tile_frames"])]
    return argv, report


def test_eval_writes_table_png_and_json(evaluated, clip_set, capsys):
    argv, report = evaluated
    assert main(argv) == 0
    out = capsys.readouterr().out
    markdown = (report / "report.md").read_text(encoding="utf-8")
    assert out.startswith(markdown)  # the same table is printed
    assert "## Mean over 2 clips" in markdown and "## a" in markdown and "## b" in markdown
    for method in [*METHODS, "ground truth"]:
        assert markdown.count(f"| {method} |") == 3  # the mean and both clips
    assert "| PSNR-Y (dB) ↑ | SSIM-Y ↑ |" in markdown
    assert "n/a" in markdown  # clip a's seam ratio: a single tile has no borders

    results = json.loads((report / "results.json").read_text())
    assert results["methods"] == METHODS and results["scale"] == 4 and results["degrade"] == "clean"
    assert results["settings"]["DC-VSR no-sap"]["sap"] is False
    assert results["settings"]["DC-VSR full"]["sap"] is True
    assert results["settings"]["DC-VSR full"]["steps"] == 2
    clips = {c["name"]: c for c in results["clips"]}
    assert sorted(clips) == ["a", "b"]
    for name, clip in clips.items():
        assert (clip["height"], clip["width"], clip["frames"]) == (*SIZES[name], FRAMES)
        m = clip["metrics"]
        for method in METHODS:
            assert m[method]["psnr"] > 5 and -1 <= m[method]["ssim"] <= 1
            assert m[method]["warp_error"] >= 0 and m[method]["tof"] >= 0 and 0 <= m[method]["hf"] <= 1
        # Smooth clips: the classical upscalers are close to the truth.
        assert m["LR-bicubic"]["psnr"] > 20 and m["Lanczos"]["psnr"] > 20
        assert m["ground truth"]["psnr"] is None and m["ground truth"]["warp_error"] < 1e-3
    # Clip a is a single tile (no seam lines); b has a tile border at column 64.
    assert clips["a"]["metrics"]["DC-VSR full"]["seam"] is None
    assert clips["a"]["tile_border_lines"] == [0, 0] and clips["b"]["tile_border_lines"] == [0, 1]
    assert clips["b"]["metrics"]["DC-VSR full"]["seam"] > 0
    mean_psnr = results["mean"]["Lanczos"]["psnr"]
    assert mean_psnr == pytest.approx(np.mean([clips[n]["metrics"]["Lanczos"]["psnr"] for n in clips]))

    # The PNG: one row per clip, the crops side by side; clip a's ground truth appears 4x enlarged.
    png = np.asarray(Image.open(report / "crops.png").convert("RGB"))
    assert png.shape[1] >= (len(METHODS) + 1) * 128
    frame, top, left, side = clips["a"]["crop"]
    assert (top, left, side) == (0, 0, 32)
    gt = np.asarray(Image.open(clip_set / "a" / f"{frame:04d}.png").convert("RGB"))
    assert _contains(png, gt.repeat(4, 0).repeat(4, 1))


def _contains(image: np.ndarray, patch: np.ndarray) -> bool:
    """Whether `patch` appears in `image` at some position (exact pixels)."""
    ph, pw = patch.shape[:2]
    rows = np.lib.stride_tricks.sliding_window_view(image, (pw, 3), axis=(1, 2))[:, :, 0]
    for y, x in zip(*np.nonzero((rows == patch[0]).all(axis=(-1, -2))), strict=True):
        if y + ph <= image.shape[0] and np.array_equal(image[y:y + ph, x:x + pw], patch):
            return True
    return False


def test_eval_baselines_only(clip_set, tmp_path, capsys):
    report = tmp_path / "r"
    assert main(["eval", "--hr", str(clip_set / "b"), "--report", str(report), "--variants", "none",
                 "--frames", "2", "--tile-size", "8"]) == 0
    results = json.loads((report / "results.json").read_text())
    assert results["methods"] == ["LR-bicubic", "Lanczos"] and results["model"] is None
    (clip,) = results["clips"]
    assert clip["frames"] == 2 and clip["tile_border_lines"] == [0, 1]
    assert "| DC-VSR" not in capsys.readouterr().out
    assert (report / "crops.png").is_file()


def test_eval_refuses_bad_requests_before_loading(clip_set, tmp_path, capsys):
    report = str(tmp_path / "r")
    assert main(["eval", "--hr", str(clip_set), "--report", report, "--variants", "full,fast"]) == 2
    assert "unknown variant 'fast'" in capsys.readouterr().err
    assert main(["eval", "--hr", str(tmp_path / "missing"), "--report", report]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["eval", "--hr", str(clip_set), "--report", report, "--scale", "2.5"]) == 2
    assert "whole-number" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
