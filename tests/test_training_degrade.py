"""Degradations for training: sizes, determinism, every stage does its job, the clean preset."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from dcvsr_protocol.errors import SettingsError

from dcvsr_engine.training.compress import decode_video, encode_video, to_uint8, video_roundtrip
from dcvsr_engine.training.degrade import CLEAN, REALISTIC, degradation_config, degrade

EVERYTHING = replace(REALISTIC, blur_prob=1.0, noise_prob=1.0, jpeg_prob=1.0, video_prob=1.0)


def hr_clip(frames: int = 4, height: int = 64, width: int = 64, seed: int = 0) -> torch.Tensor:
    """Smooth structure plus fine texture, mid-grey on average (noise is not clipped away)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for f in range(frames):
        base = 0.5 + 0.25 * np.sin((xx + 2 * f) / 5.0)[None] * np.cos(yy / 7.0 + np.arange(3)[:, None, None])
        out.append(base + 0.08 * rng.standard_normal((3, height, width)))
    return torch.from_numpy(np.clip(np.stack(out), 0, 1).astype(np.float32))


def run(config, hr=None, scale=4.0, seed=0) -> torch.Tensor:
    return degrade(hr_clip() if hr is None else hr, config, scale, np.random.default_rng(seed))


def test_output_is_hr_over_scale_for_every_stage_even_odd_lr_sizes():
    hr = hr_clip(3, 64, 44)  # LR 16x11: odd width goes through the 4:2:0 video codec too
    for seed in range(4):
        lr = run(EVERYTHING, hr, seed=seed)
        assert lr.shape == (3, 3, 16, 11) and lr.dtype == torch.float32
        assert 0.0 <= lr.min() and lr.max() <= 1.0
    assert run(CLEAN, hr_clip(2, 64, 48), scale=2).shape == (2, 3, 32, 24)
    with pytest.raises(SettingsError, match="not divisible"):
        run(CLEAN, hr_clip(2, 64, 50), scale=4)


def test_deterministic_for_a_seed_and_different_across_seeds():
    a, b, c = run(EVERYTHING, seed=5), run(EVERYTHING, seed=5), run(EVERYTHING, seed=6)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_clean_preset_is_a_plain_antialiased_bicubic_downscale():
    hr = hr_clip()
    expected = F.interpolate(hr, size=(16, 16), mode="bicubic", antialias=True, align_corners=False)
    assert torch.equal(run(CLEAN, hr), expected.clamp(0, 1))


def test_clean_prob_gives_the_clean_preset_to_that_share_of_clips():
    from dataclasses import replace

    hr = hr_clip()
    assert torch.equal(run(replace(EVERYTHING, clean_prob=1.0), hr), run(CLEAN, hr))
    half = replace(EVERYTHING, clean_prob=0.5)
    clean = [torch.equal(run(half, hr, seed=s), run(CLEAN, hr)) for s in range(40)]
    assert 8 <= sum(clean) <= 32


def _laplacian_energy(x: torch.Tensor) -> float:
    k = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    return float(F.conv2d(x, k, groups=3).pow(2).mean())


def test_blur_removes_detail():
    blurred = replace(CLEAN, blur_prob=1.0, blur_sigma=(3.0, 3.0))
    assert _laplacian_energy(run(blurred, scale=2)) < 0.5 * _laplacian_energy(run(CLEAN, scale=2))


def test_gaussian_noise_has_the_drawn_sigma_and_poisson_adds_noise():
    clean = run(CLEAN)
    gauss = replace(CLEAN, noise_prob=1.0, gaussian_prob=1.0, gaussian_sigma=(10.0, 10.0),
                    gray_noise_prob=0.0)
    residual = (run(gauss) - clean).std().item() * 255
    assert 8.5 < residual < 10.5
    poisson = replace(CLEAN, noise_prob=1.0, gaussian_prob=0.0, poisson_scale=(2.0, 2.0))
    assert (run(poisson) - clean).std().item() * 255 > 3.0


def _blockiness(x: torch.Tensor) -> float:
    """Mean jump across 8-pixel block boundaries over the mean jump elsewhere (about 1 for natural images)."""
    d = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(0, 1, 2))  # per column boundary
    at = torch.arange(d.numel()) % 8 == 7
    return float(d[at].mean() / d[~at].mean())


def test_jpeg_adds_blockiness():
    hr = hr_clip(2, 128, 128)
    jpeg = replace(CLEAN, jpeg_prob=1.0, jpeg_quality=(10, 10), jpeg_quality_jitter=0)
    before, after = _blockiness(run(CLEAN, hr, scale=2)), _blockiness(run(jpeg, hr, scale=2))
    assert after > 1.3 * before


def test_video_compression_goes_through_the_codec():
    clean = run(CLEAN)
    for codec in ("libx264", "mpeg4"):
        cfg = replace(CLEAN, video_prob=1.0, video_codecs=(codec,), x264_crf=(40, 40), mpeg4_bpp=(0.1, 0.1))
        diff = (run(cfg) - clean).abs().mean().item()
        assert 0.005 < diff < 0.2, codec


def test_video_roundtrip_really_encodes_and_decodes():
    frames = hr_clip(5, 32, 32)
    rgb = to_uint8(frames)
    data = encode_video(rgb, "libx264", crf=35)
    assert data[:4] == b"\x1a\x45\xdf\xa3"  # an EBML (Matroska) file
    assert len(data) < rgb.nbytes / 4  # compressed, not stored
    assert len(encode_video(rgb, "libx264", crf=45)) < len(data)
    back = decode_video(data)
    assert back.shape == rgb.shape
    err = np.abs(back.astype(np.float32) - rgb).mean()
    assert 1.0 < err < 40.0
    assert torch.equal(video_roundtrip(frames, "libx264", crf=35), video_roundtrip(frames, "libx264", crf=35))


def test_resize_modes_differ():
    area = run(replace(CLEAN, resize_modes=("area",)))
    bilinear = run(replace(CLEAN, resize_modes=("bilinear",), resize_antialias_prob=0.0))
    assert (area - run(CLEAN)).abs().max() > 1e-3 and (bilinear - area).abs().max() > 1e-3


def test_config_from_json_and_bad_values(tmp_path):
    path = tmp_path / "deg.json"
    path.write_text('{"preset": "clean", "jpeg_prob": 1.0, "jpeg_quality": [20, 40]}')
    cfg = degradation_config(str(path))
    assert cfg.jpeg_prob == 1.0 and cfg.jpeg_quality == (20, 40) and cfg.blur_prob == 0.0
    assert degradation_config("clean") is CLEAN
    with pytest.raises(SettingsError, match="unknown degradation"):
        degradation_config({"jpeg_probability": 1.0})
    with pytest.raises(SettingsError, match="probability"):
        degradation_config({"noise_prob": 2.0})
    with pytest.raises(SettingsError, match="not a preset"):
        degradation_config("no-such-preset")
