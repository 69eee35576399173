"""LR clips from HR clips: degradations of the RealBasicVSR / Real-ESRGAN kind, one draw per clip.

Stages, in order: blur -> downscale by the scale factor -> noise -> JPEG -> video compression
-> 8-bit quantisation. The parameters are drawn once per clip, as RealBasicVSR does, so the
degradation is temporally consistent; per frame vary only what varies in real footage: the noise
samples, a small JPEG quality jitter, an optional blur-width jitter, and whatever the video codec
does. The "clean" preset is a plain antialiased bicubic downscale (the classic VSR setting);
"realistic" enables every stage with ranges close to Real-ESRGAN's first order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from dcvsr_protocol.errors import SettingsError

from ..jsonfile import read_object
from .compress import jpeg, video_roundtrip
from .kernels import blur, gaussian_kernel

RESIZE_MODES = ("area", "bilinear", "bicubic")
VIDEO_CODECS = ("libx264", "mpeg4")


@dataclass(frozen=True)
class DegradeConfig:
    # Blur: isotropic or anisotropic Gaussian, odd kernel sizes, sigmas in HR pixels.
    blur_prob: float = 1.0
    blur_size: tuple[int, int] = (7, 21)
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    blur_aniso_prob: float = 0.5
    blur_sigma_jitter: float = 0.0        # per-frame relative change of the sigmas (0: same kernel)
    # Downscale by the scale factor with a random interpolation.
    resize_modes: tuple[str, ...] = RESIZE_MODES
    resize_antialias_prob: float = 0.5    # bilinear/bicubic only; without it the downscale aliases
    # Noise: Gaussian (sigma in 8-bit levels) or Poisson (scale of 8-bit shot noise); colour or grey.
    noise_prob: float = 1.0
    gaussian_prob: float = 0.5            # else Poisson
    gaussian_sigma: tuple[float, float] = (1.0, 30.0)
    poisson_scale: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    # JPEG per frame, quality drawn per clip with a small per-frame jitter.
    jpeg_prob: float = 0.7
    jpeg_quality: tuple[int, int] = (30, 95)
    jpeg_quality_jitter: int = 3
    # Video compression of the whole clip through PyAV, in memory.
    video_prob: float = 0.5
    video_codecs: tuple[str, ...] = VIDEO_CODECS
    x264_crf: tuple[int, int] = (18, 35)
    mpeg4_bpp: tuple[float, float] = (0.1, 1.0)  # bits per pixel per frame (RealBasicVSR's 1e4-1e5
    #                                              bit/s on its 64x64 crops at 24 fps)
    quantize: bool = True                 # round the LR to 8 bits, as real inputs are
    # The chance a clip gets the clean preset instead (one model for clean and degraded input).
    clean_prob: float = 0.0

    def __post_init__(self) -> None:
        for name in ("clean_prob", "blur_prob", "blur_aniso_prob", "resize_antialias_prob", "noise_prob",
                     "gaussian_prob",
                     "gray_noise_prob", "jpeg_prob", "video_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SettingsError(f"degradation {name} must be a probability in [0, 1]")
        for name in ("blur_size", "blur_sigma", "gaussian_sigma", "poisson_scale", "jpeg_quality",
                     "x264_crf", "mpeg4_bpp"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise SettingsError(f"degradation {name} must be a range [low, high] with 0 <= low <= high")
        if self.blur_size[0] < 1 or self.blur_sigma[0] <= 0:
            raise SettingsError("degradation blur_size and blur_sigma must be positive")
        if not self.resize_modes or set(self.resize_modes) - set(RESIZE_MODES):
            raise SettingsError(f"degradation resize_modes must be among {', '.join(RESIZE_MODES)}")
        if not self.video_codecs or set(self.video_codecs) - set(VIDEO_CODECS):
            raise SettingsError(f"degradation video_codecs must be among {', '.join(VIDEO_CODECS)}")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise SettingsError("degradation jpeg_quality must lie in 1..100")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


CLEAN = DegradeConfig(blur_prob=0.0, resize_modes=("bicubic",), resize_antialias_prob=1.0, noise_prob=0.0,
                      jpeg_prob=0.0, video_prob=0.0, quantize=False)
REALISTIC = DegradeConfig()
PRESETS = {"clean": CLEAN, "realistic": REALISTIC}


def degradation_config(spec: str | dict[str, Any]) -> DegradeConfig:
    """A preset name, a JSON file path, or a dict: {"preset": "realistic", <field>: value, ...}."""
    if isinstance(spec, str):
        if spec in PRESETS:
            return PRESETS[spec]
        path = Path(spec)
        if not path.is_file():
            raise SettingsError(f"degradation {spec!r}: not a preset ({', '.join(PRESETS)}) or a JSON file")
        spec = read_object(path, SettingsError, "degradation file")
    values = dict(spec)
    base = PRESETS.get(values.pop("preset", "realistic"))
    if base is None:
        raise SettingsError(f"degradation preset must be one of {', '.join(PRESETS)}")
    known = {f.name for f in fields(DegradeConfig)}
    unknown = set(values) - known
    if unknown:
        raise SettingsError(f"unknown degradation settings: {', '.join(sorted(unknown))}")
    return replace(base, **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def lr_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """The LR size of an HR size; the HR must divide exactly, so the sampler's geometry round-trips."""
    h, w = height / scale, width / scale
    if abs(h - round(h)) > 1e-6 or abs(w - round(w)) > 1e-6:
        raise SettingsError(f"HR size {width}x{height} is not divisible by the scale {scale}")
    return round(h), round(w)


def downscale(frames: torch.Tensor, size: tuple[int, int], mode: str, antialias: bool) -> torch.Tensor:
    if mode == "area":
        return F.interpolate(frames, size=size, mode="area")
    return F.interpolate(frames, size=size, mode=mode, antialias=antialias, align_corners=False)


def draw_config(config: DegradeConfig, rng: np.random.Generator) -> DegradeConfig:
    """The config a clip is degraded with: CLEAN with probability clean_prob, else `config`. degrade()
    draws it first, so a generator seeded as degrade's tells whether that clip came out clean."""
    return CLEAN if config.clean_prob and rng.random() < config.clean_prob else config


def degrade(hr: torch.Tensor, config: DegradeConfig, scale: float, rng: np.random.Generator) -> torch.Tensor:
    """(T, 3, H, W) float in [0, 1] -> (T, 3, H/scale, W/scale) float32 in [0, 1]."""
    frames = hr.float()
    t = frames.shape[0]
    size = lr_size(frames.shape[2], frames.shape[3], scale)
    config = draw_config(config, rng)
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))

    if rng.random() < config.blur_prob:
        frames = blur(frames, _kernels(config, t, rng)).clamp(0, 1)

    mode = config.resize_modes[int(rng.integers(len(config.resize_modes)))]
    frames = downscale(frames, size, mode, bool(rng.random() < config.resize_antialias_prob)).clamp(0, 1)

    if rng.random() < config.noise_prob:
        gray = bool(rng.random() < config.gray_noise_prob)
        shape = (t, 1 if gray else 3, *size)
        if rng.random() < config.gaussian_prob:
            sigma = rng.uniform(*config.gaussian_sigma) / 255.0
            noise = torch.randn(shape, generator=gen) * sigma
        else:
            scale_p = rng.uniform(*config.poisson_scale)
            base = frames.mean(1, keepdim=True) if gray else frames
            noise = (torch.poisson(base * 255.0, generator=gen) / 255.0 - base) * scale_p
        frames = (frames + noise).clamp(0, 1)

    if rng.random() < config.jpeg_prob:
        quality = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
        jitter = rng.integers(-config.jpeg_quality_jitter, config.jpeg_quality_jitter + 1, size=t)
        qualities = np.clip(quality + jitter, config.jpeg_quality[0], config.jpeg_quality[1]).tolist()
        frames = jpeg(frames, qualities)

    if rng.random() < config.video_prob:
        codec = config.video_codecs[int(rng.integers(len(config.video_codecs)))]
        if codec == "libx264":
            crf = int(rng.integers(config.x264_crf[0], config.x264_crf[1] + 1))
            frames = video_roundtrip(frames, codec, crf=crf)
        else:
            bitrate = rng.uniform(*config.mpeg4_bpp) * size[0] * size[1] * 24
            frames = video_roundtrip(frames, codec, bitrate=max(int(bitrate), 1000))

    if config.quantize:
        frames = (frames * 255.0).round() / 255.0
    return frames.clamp(0, 1).contiguous()


def _kernels(config: DegradeConfig, t: int, rng: np.random.Generator) -> torch.Tensor:
    """One kernel per frame: the clip's kernel, its sigmas optionally jittered per frame."""
    lo, hi = config.blur_size
    size = int(rng.integers(lo // 2, hi // 2 + 1)) * 2 + 1  # odd sizes in the range
    sx = rng.uniform(*config.blur_sigma)
    if rng.random() < config.blur_aniso_prob:
        sy, theta = rng.uniform(*config.blur_sigma), rng.uniform(0, np.pi)
    else:
        sy, theta = sx, 0.0
    jit = 1.0 + rng.uniform(-config.blur_sigma_jitter, config.blur_sigma_jitter, size=t)
    return torch.stack([gaussian_kernel(size, sx * j, sy * j, theta) for j in jit])
