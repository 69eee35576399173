"""Image metrics of `dcvsr eval`: PSNR and SSIM on luma, high-frequency energy, the seam ratio."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dcvsr_protocol.settings import Settings

from dcvsr_engine.evaluation import metrics as M
from dcvsr_engine.sampler.plan import Plan
from dcvsr_engine.sampler.tiles import SpatialGrid


def smooth_pair(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic luma pair (no random generator), used for the skimage reference values."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    a = 0.5 + 0.3 * np.sin(xs / 3.0) * np.cos(ys / 5.0)
    b = a + 0.05 * np.sin(xs * 1.7 + ys * 0.9) + 0.02 * np.cos(xs * ys / 7.0)
    return np.clip(a, 0, 1), np.clip(b, 0, 1)


def brute_force_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al.'s SSIM written out window by window: an independent reference."""
    r = np.arange(-5, 6, dtype=np.float64)
    g = np.exp(-(r**2) / (2 * 1.5**2))
    w = np.outer(g, g)
    w /= w.sum()
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
            cxy = (w * (px - mx) * (py - my)).sum()
            values.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_luma_is_bt709():
    rgb = np.zeros((1, 3, 3))
    rgb[0, 0, 0] = rgb[0, 1, 1] = rgb[0, 2, 2] = 1.0
    assert M.luma(rgb)[0].tolist() == pytest.approx([0.2126, 0.7152, 0.0722])
    assert M.luma(np.ones((4, 4, 3))) == pytest.approx(np.ones((4, 4)))


def test_psnr_identical_is_infinite():
    frame = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    assert M.psnr(frame, frame.copy()) == math.inf
    assert M.ssim(frame, frame.copy()) == pytest.approx(1.0, abs=1e-12)


def test_psnr_known_values():
    rng = np.random.default_rng(1)
    a = rng.random((20, 24, 3))
    # The luma weights sum to one: a grey offset of 0.1 is an MSE of 0.01 on Y, 20 dB exactly.
    assert M.psnr(np.clip(a, 0, 0.9) + 0.1, np.clip(a, 0, 0.9)) == pytest.approx(20.0, abs=1e-9)
    # Noise: the reference written out from the definition.
    b = np.clip(a + rng.normal(0, 0.03, a.shape), 0, 1)
    ya = 0.2126 * a[..., 0] + 0.7152 * a[..., 1] + 0.0722 * a[..., 2]
    yb = 0.2126 * b[..., 0] + 0.7152 * b[..., 1] + 0.0722 * b[..., 2]
    assert M.psnr(b, a) == pytest.approx(-10 * np.log10(np.mean((ya - yb) ** 2)), rel=1e-12)
    # A one-pixel shift of a clip: the mean of the per-frame values.
    clip = [rng.random((16, 16, 3)) for _ in range(3)]
    shifted = [np.roll(f, 1, axis=1) for f in clip]
    expected = np.mean([M.psnr(s, f) for s, f in zip(shifted, clip, strict=True)])
    assert M.clip_mean(M.psnr, shifted, clip) == pytest.approx(expected)
    assert M.clip_mean(M.psnr, clip, clip) == math.inf


@pytest.mark.parametrize(("h", "w", "reference"), [
    # skimage 0.26.0: structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
    # use_sample_covariance=False, data_range=1.0) on smooth_pair(h, w).
    (24, 24, 0.8990212529979025),
    (20, 31, 0.8882979805215848),
    (64, 48, 0.8847003458522344),
])
def test_ssim_matches_skimage(h, w, reference):
    a, b = smooth_pair(h, w)
    assert M.ssim(a, b) == pytest.approx(reference, abs=1e-12)


def test_ssim_matches_the_definition_window_by_window():
    rng = np.random.default_rng(2)
    a = rng.random((22, 27, 3))
    b = np.clip(np.roll(a, 1, axis=0) * 0.9 + rng.normal(0, 0.05, a.shape), 0, 1)
    assert M.ssim(b, a) == pytest.approx(brute_force_ssim(M.luma(b), M.luma(a)), abs=1e-12)
    # Flat frames: only the luminance term is left, (2 xy + C1) / (x^2 + y^2 + C1).
    c1 = 0.01**2
    assert M.ssim(np.full((12, 12), 0.3), np.full((12, 12), 0.6)) == pytest.approx(
        (2 * 0.18 + c1) / (0.09 + 0.36 + c1))
    with pytest.raises(ValueError, match="11x11"):
        M.ssim(np.zeros((10, 20)), np.zeros((10, 20)))
    assert M.gaussian_kernel().shape == (11,)


def test_hf_energy():
    _, xs = np.mgrid[0:64, 0:64].astype(np.float64)
    assert M.hf_energy(np.full((64, 64), 0.4)) == 0.0
    low = 0.5 + 0.3 * np.sin(2 * np.pi * xs * 0.05)     # 0.05 cycles/px, below a 4x cutoff of 0.125
    high = 0.5 + 0.3 * np.sin(2 * np.pi * xs * 0.3)     # above it
    assert M.hf_energy(low, 0.125) < 0.01
    assert M.hf_energy(high, 0.125) > 0.95
    mixed = 0.5 * (low + high)
    assert 0.3 < M.hf_energy(mixed, 0.125) < 0.7
    assert M.hf_energy(mixed, 0.4) < 0.01  # nothing above 0.4


def seam_plan_borders(out: int = 192) -> tuple[list[int], list[int]]:
    """The tile borders of the sampler's plan for a square LR input at 4x with 16-latent tiles."""
    plan = Plan(Settings.for_model(None, tile_size=16, scale=4.0))
    geo = plan.geometry(out // 4, out // 4)
    return M.tile_borders(plan.spatial_grid(geo), geo.vae_factor, geo.out_h, geo.out_w)


def test_tile_borders_follow_the_grid():
    grid = SpatialGrid(16, 24, 8, 0.5, 8)  # latent 16x24, tiles of 8 at starts 0, 8 (rows), 0, 8, 16 (cols)
    rows, cols = M.tile_borders(grid, 8, 128, 190)
    assert rows == [64]
    assert cols == [64, 128]  # 192 is the output's edge (and past the 190 kept)
    assert seam_plan_borders() == ([64, 128], [64, 128])
    assert M.tile_borders(SpatialGrid(8, 8, 8, 0.5, 8), 8, 64, 64) == ([], [])


def test_seam_ratio_smooth_and_planted_step():
    rows, cols = seam_plan_borders()
    ys, xs = np.mgrid[0:192, 0:192].astype(np.float64)
    ramp = 0.2 + 0.003 * xs + 0.001 * ys
    assert M.seam_ratio([ramp], rows, cols) == pytest.approx(1.0, abs=1e-9)
    smooth = 0.5 + 0.2 * np.sin(2 * np.pi * xs / 71 + 0.4) * np.cos(2 * np.pi * ys / 53 + 1.0) + 0.001 * xs
    ratio = M.seam_ratio([smooth, smooth[::-1]], rows, cols)
    assert 0.8 < ratio < 1.25
    # A small step planted on every tile border (what an unblended tile edge looks like).
    step = smooth.copy()
    for p in cols:
        step[:, p:] += 0.02
    for p in rows:
        step[p:, :] -= 0.02
    assert M.seam_ratio([step], rows, cols) > 2.0
    # The same step away from the borders is not a seam.
    off = smooth.copy()
    off[:, 96:] += 0.02
    assert M.seam_ratio([off], rows, cols) < 1.0
    assert math.isnan(M.seam_ratio([smooth], [], []))
    assert M.seam_ratio([np.zeros((32, 32))], [16], [16]) == 1.0


def test_border_mask_band():
    assert np.flatnonzero(M.border_mask(10, [5], 1)).tolist() == [4]
    assert np.flatnonzero(M.border_mask(10, [5], 2)).tolist() == [3, 4, 5]
    assert np.flatnonzero(M.border_mask(10, [9], 2)).tolist() == [7, 8]


def test_window_edges_are_where_the_covering_windows_change():
    from dcvsr_engine.evaluation.runner import window_edges

    # Windows of 6 frames overlapping by 3: [0, 6), [3, 9), [6, 12) over 12 frames, one segment.
    plan = Plan(Settings.for_model(None, tile_frames=6, frame_overlap=0.5, segment_frames=70))
    assert window_edges(plan, 12) == [2, 5, 8]
    # One window: no edges, so the report says n/a rather than a number.
    assert window_edges(plan, 5) == []


def test_warping_error_over_chosen_pairs_is_the_mean_of_those_pairs():
    from dcvsr_engine.evaluation.temporal import ReferenceMotion, warping_error

    rng = np.random.default_rng(0)
    frames = [rng.random((32, 32, 3)).astype(np.float32) for _ in range(4)]
    motion = ReferenceMotion.of(np.stack(frames))
    each = [warping_error(frames, motion, [t]) for t in range(3)]
    assert np.isclose(warping_error(frames, motion), np.mean(each))
    assert np.isclose(warping_error(frames, motion, [0, 2]), np.mean([each[0], each[2]]))
