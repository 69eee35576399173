"""Full-reference and no-reference image metrics on luma: PSNR, SSIM, high-frequency energy, seams.

Every metric works on Y, BT.709 luma of the display-referred R'G'B' values in [0, 1]
(Y = 0.2126 R' + 0.7152 G' + 0.0722 B', full range [0, 1], no 16-235 offset), in float64.
A frame is an (H, W, 3) RGB array or an (H, W) luma array; a clip is a sequence of frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

LUMA_BT709 = (0.2126, 0.7152, 0.0722)

# SSIM as Wang et al. 2004 and skimage's structural_similarity(gaussian_weights=True, sigma=1.5,
# use_sample_covariance=False, data_range=1): an 11x11 Gaussian window (sigma 1.5, truncated at
# 3.5 sigma, normalised), K1 = 0.01, K2 = 0.03, mean over the positions where the window lies
# wholly inside the image (skimage filters with reflection and then crops those 5 pixels off).
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def luma(frame: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) RGB -> (..., H, W) float64 BT.709 luma; an (H, W) array is taken as luma already."""
    x = np.asarray(frame, dtype=np.float64)
    if x.ndim >= 3 and x.shape[-1] == 3:
        r, g, b = LUMA_BT709
        return r * x[..., 0] + g * x[..., 1] + b * x[..., 2]
    if x.ndim == 2:
        return x
    raise ValueError(f"expected an (H, W, 3) RGB or (H, W) luma frame, got shape {x.shape}")


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ya, yb = luma(a), luma(b)
    if ya.shape != yb.shape:
        raise ValueError(f"frames differ in size: {ya.shape} and {yb.shape}")
    return ya, yb


# -- PSNR ------------------------------------------------------------------------------------------
def psnr(output: np.ndarray, reference: np.ndarray, data_range: float = 1.0) -> float:
    """10 log10(data_range^2 / MSE) of the luma of one frame; inf when the frames are identical."""
    ya, yb = _pair(output, reference)
    mse = float(np.mean((ya - yb) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


# -- SSIM ------------------------------------------------------------------------------------------
def gaussian_kernel(sigma: float = SSIM_SIGMA, truncate: float = SSIM_TRUNCATE) -> np.ndarray:
    """A normalised 1-D Gaussian of radius int(truncate * sigma + 0.5) (5 for sigma 1.5: 11 taps)."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable correlation with `g` along both axes, 'valid' positions only."""
    k = len(g)
    h, w = img.shape
    rows = sum(g[i] * img[:, i:i + w - k + 1] for i in range(k))
    return sum(g[i] * rows[i:i + h - k + 1, :] for i in range(k))


def ssim(output: np.ndarray, reference: np.ndarray, data_range: float = 1.0) -> float:
    """Mean SSIM of the luma of one frame (see the constants above); 1.0 for identical frames."""
    x, y = _pair(output, reference)
    g = gaussian_kernel()
    if min(x.shape) < len(g):
        raise ValueError(f"SSIM needs frames of at least {len(g)}x{len(g)} pixels, "
                         f"got {x.shape[1]}x{x.shape[0]}")
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mx, my = _filter_valid(x, g), _filter_valid(y, g)
    vx = _filter_valid(x * x, g) - mx * mx
    vy = _filter_valid(y * y, g) - my * my
    cxy = _filter_valid(x * y, g) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


# -- high-frequency energy -------------------------------------------------------------------------
def hf_energy(frame: np.ndarray, cutoff: float = 0.125) -> float:
    """Share of the luma's spectral energy above `cutoff` cycles/pixel (radial; Nyquist is 0.5).

    The frame minus its mean is multiplied by a 2-D Hann window (no wrap-around edge), then
    sum |FFT|^2 over frequencies with radius > cutoff / sum over all non-zero frequencies.
    In [0, 1]; 0 for a flat frame. With cutoff = 0.5 / scale it measures the detail above the
    LR input's Nyquist frequency, i.e. detail the upscaler had to generate.
    """
    y = luma(frame)
    if np.ptp(y) == 0:
        return 0.0
    h, w = y.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    mean = (y * window).sum() / window.sum() if window.sum() > 0 else y.mean()
    power = np.abs(np.fft.fft2((y - mean) * window)) ** 2
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij"))
    total = power[radius > 0].sum()
    if total <= 0:
        return 0.0
    return float(power[radius > cutoff].sum() / total)


# -- seams along tile borders ----------------------------------------------------------------------
def tile_borders(grid, factor: int, out_h: int, out_w: int) -> tuple[list[int], list[int]]:
    """Output-pixel rows and columns where a tile of `grid` (a SpatialGrid, in latent pixels) starts
    or ends inside the output: latent position * `factor` (the VAE factor, 8), strictly inside."""
    rows = {t.y * factor for t in grid.tiles} | {(t.y + t.h) * factor for t in grid.tiles}
    cols = {t.x * factor for t in grid.tiles} | {(t.x + t.w) * factor for t in grid.tiles}
    return sorted(p for p in rows if 0 < p < out_h), sorted(p for p in cols if 0 < p < out_w)


def border_mask(length: int, borders: Iterable[int], band: int) -> np.ndarray:
    """Which of the length-1 neighbour differences d[i] = I[i+1] - I[i] lie within `band` pixels of a
    border p (the boundary between pixels p-1 and p): p - band <= i <= p + band - 2."""
    mask = np.zeros(max(length - 1, 0), dtype=bool)
    for p in borders:
        mask[max(p - band, 0):max(p + band - 1, 0)] = True
    return mask


def seam_ratio(frames: Sequence[np.ndarray], rows: Sequence[int], cols: Sequence[int],
               band: int = 2) -> float:
    """Mean squared luma gradient across tile borders / the same elsewhere, pooled over the frames.

    Gradients are neighbour differences: horizontal ones (I[:, i+1] - I[:, i]) are "across" the
    vertical borders `cols`, vertical ones across the horizontal borders `rows`; a difference is
    on a border when it lies within `band` pixels of it (see border_mask), otherwise elsewhere.
    1.0 means no visible seams; NaN when there are no borders (a single tile) or nothing elsewhere.
    """
    if not rows and not cols:
        return math.nan
    on_sum = on_n = off_sum = off_n = 0.0
    for frame in frames:
        y = luma(frame)
        h, w = y.shape
        dx2, dy2 = np.diff(y, axis=1) ** 2, np.diff(y, axis=0) ** 2
        mx, my = border_mask(w, cols, band), border_mask(h, rows, band)
        on_sum += dx2[:, mx].sum() + dy2[my, :].sum()
        off_sum += dx2[:, ~mx].sum() + dy2[~my, :].sum()
        on_n += dx2[:, mx].size + dy2[my, :].size
        off_n += dx2[:, ~mx].size + dy2[~my, :].size
    if on_n == 0 or off_n == 0:
        return math.nan
    on, off = on_sum / on_n, off_sum / off_n
    if off == 0:
        return 1.0 if on == 0 else math.inf
    return float(on / off)


# -- per clip --------------------------------------------------------------------------------------
def clip_mean(metric, outputs: Sequence[np.ndarray], references: Sequence[np.ndarray], **kw) -> float:
    """The mean over frames of a per-frame full-reference metric (PSNR: inf if any frame is identical)."""
    if len(outputs) != len(references) or len(outputs) == 0:
        raise ValueError(f"clips differ in length or are empty: {len(outputs)} and {len(references)} frames")
    return float(np.mean([metric(o, r, **kw) for o, r in zip(outputs, references, strict=True)]))
