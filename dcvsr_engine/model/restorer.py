"""The restorer: a fixed, learned refinement of the bicubic upscale, made before it becomes the condition.

RAISR-style hashed linear filters (Romano, Isidoro & Milanfar, "RAISR", 2016): each output pixel is
its bicubic value plus a 7x7 filter over its bicubic neighbourhood (minus the pixel itself) and a
bias, the filter chosen per pixel by the local gradient's angle (16 buckets), strength and coherence
(3 each, from the structure tensor of the luma), and, in a restorer fitted per scale (config.json
"scales"), by the nearest fitted scale. Linear, so it is fitted in closed form in minutes
(training/restorer.py) and runs in a fraction of a UNet pass.

One bank of filters per kind of footage, chosen by the `footage` setting: "clean" (antialiased
downscales: the filters sharpen), "degraded" (blur, noise and compression: they sharpen and
denoise), "auto" (fitted on both: what to use when the source is unknown). One bank cannot serve
both: a bank fitted on clean input loses 1.7 dB to bicubic on degraded input at x2 and one fitted on
the mixture loses 0.9 dB on clean input (bench/restorer_gain.py).

Why a model has one (dcvsr.json: "latent": {..., "restorer": true}; the files in restorer/): a small
UNet learns to read its condition slowly (docs/nano.md), so nano is conditioned on, and its residual
latent is relative to, an upscale already better than bicubic; nano adds only what the filters miss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from dcvsr_protocol.errors import ModelError

KIND = "hashed_filters"
FOOTAGE = ("auto", "clean", "degraded")  # the `footage` setting's choices
FOLDER, CONFIG, WEIGHTS = "restorer", "config.json", "filters.safetensors"
SIDE, ANGLES, STRENGTHS, COHERENCES = 7, 16, 3, 3
BUCKETS = ANGLES * STRENGTHS * COHERENCES
TAPS = SIDE * SIDE + 1  # the neighbourhood minus the centre, and a bias
# Peak temporaries of apply() per output pixel, one frame at a time (the structure tensor, the filter index,
# the padded frame and the sum): about 180 bytes in all measured over nano's conditioning of a 1080p x2
# frame, less what the memory estimate counts per pixel of the condition chunk (sampler/memory.py).
WORK_BYTES_PER_PIXEL = 150


def luma(frames: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> (N, 1, H, W) BT.601 luma."""
    return (0.299 * frames[:, 0] + 0.587 * frames[:, 1] + 0.114 * frames[:, 2])[:, None]


def structure(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per pixel, from the structure tensor of the luma over a Gaussian 7x7 window: the dominant
    gradient angle in (-pi/2, pi/2], the strength sqrt(lambda1) and the coherence
    (sqrt l1 - sqrt l2) / (sqrt l1 + sqrt l2); each (N, H, W)."""
    y = F.pad(luma(frames), (1, 1, 1, 1), mode="replicate")
    gx = (y[..., 1:-1, 2:] - y[..., 1:-1, :-2]) / 2
    gy = (y[..., 2:, 1:-1] - y[..., :-2, 1:-1]) / 2
    g = torch.exp(-(torch.arange(7, device=frames.device) - 3.0) ** 2 / 4.5)
    window = (g[:, None] * g[None] / g.sum() ** 2).expand(3, 1, 7, 7)
    products = F.pad(torch.cat([gx * gx, gx * gy, gy * gy], 1), (3,) * 4, mode="replicate")
    t = F.conv2d(products, window.to(frames.dtype), groups=3)
    a, b, d = t[:, 0], t[:, 1], t[:, 2]
    half = ((a - d) ** 2 / 4 + b * b).sqrt()
    s1 = ((a + d) / 2 + half).sqrt()
    s2 = ((a + d) / 2 - half).clamp(min=0).sqrt()
    return 0.5 * torch.atan2(2 * b, a - d), s1, (s1 - s2) / (s1 + s2 + 1e-8)


def neighbourhood(frames: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 3, H, W, TAPS): each pixel's 7x7 neighbours minus itself, and 1. For fitting
    on small crops (it holds 50 copies of the frames); `Restorer.apply` never builds it."""
    p = F.pad(frames, (SIDE // 2,) * 4, mode="replicate").unfold(2, SIDE, 1).unfold(3, SIDE, 1).flatten(-2)
    return torch.cat([p - frames[..., None], torch.ones_like(p[..., :1])], -1)


@dataclass
class Restorer:
    strength_edges: torch.Tensor   # (STRENGTHS - 1,) bucket edges of the gradient strength
    coherence_edges: torch.Tensor  # (COHERENCES - 1,)
    banks: dict[str, torch.Tensor]  # footage -> (BUCKETS, TAPS) filters, or (len(scales), BUCKETS, TAPS)
    classifier: Any = None  # footage.FootageClassifier deciding footage=auto per clip, or None
    scales: tuple[float, ...] = ()  # the scales of a bank's per-scale filters; () one set for every scale

    def filters(self, footage: str, scale: float | None) -> torch.Tensor:
        """(BUCKETS, TAPS): the bank's filters for `scale` (per-scale banks: the nearest fitted scale)."""
        bank = self.banks[footage]
        if not self.scales:
            return bank
        if scale is None:
            raise ValueError("this restorer has a bank per scale: apply() needs the scale")
        nearest = min(range(len(self.scales)), key=lambda k: abs(math.log(self.scales[k] / scale)))
        return bank[nearest]

    def bucket(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, H, W) filter index per pixel."""
        angle, strength, coherence = structure(frames)
        a = ((angle + math.pi / 2) / math.pi * ANGLES).long().clamp(0, ANGLES - 1)
        s = torch.bucketize(strength, self.strength_edges.to(frames.device))
        c = torch.bucketize(coherence, self.coherence_edges.to(frames.device))
        return (a * STRENGTHS + s) * COHERENCES + c

    @torch.no_grad()
    def apply(self, frames: torch.Tensor, footage: str = "auto", scale: float | None = None) -> torch.Tensor:
        """(N, 3, H, W) bicubic upscales (by `scale`) in [0, 1] -> the restored frames, float32 in [0, 1]."""
        bank = self.filters(footage, scale).to(frames.device)
        taps, bias = bank[:, :-1].T.contiguous(), bank[:, -1]
        centre = 1.0 - taps.sum(0)  # the frame's own weight: the taps act on neighbour - frame
        out = []
        for frame in frames.float().split(1):
            index = self.bucket(frame)[0]
            padded = F.pad(frame, (SIDE // 2,) * 4, mode="replicate")
            h, w = frame.shape[-2:]
            # frame + sum_k w_k (neighbour_k - frame) + bias, one tap at a time (a per-pixel gather of
            # one weight each): memory stays at a few frames, and no (H, W, TAPS) array is built.
            acc = frame * centre[index] + bias[index]
            for k in range(SIDE * SIDE):
                dy, dx = divmod(k, SIDE)
                acc.addcmul_(taps[k][index], padded[..., dy:dy + h, dx:dx + w])
            out.append(acc.clamp_(0, 1))
        return torch.cat(out)


def save_restorer(folder: Path, restorer: Restorer) -> None:
    from safetensors.torch import save_file

    from .layout import write_json

    folder.mkdir(parents=True, exist_ok=True)
    config = {"kind": KIND, "side": SIDE, "angles": ANGLES, "strengths": STRENGTHS, "coherences": COHERENCES,
              "footage": sorted(restorer.banks)}
    if restorer.scales:
        config["scales"] = list(restorer.scales)
    if restorer.classifier is not None:
        config["classifier"] = restorer.classifier.to_json()
    write_json(folder / CONFIG, config)
    tensors = {"strength_edges": restorer.strength_edges, "coherence_edges": restorer.coherence_edges}
    tensors.update({f"bank.{name}": bank for name, bank in restorer.banks.items()})
    save_file({k: v.float().contiguous() for k, v in tensors.items()}, str(folder / WEIGHTS))


def load_restorer(folder: Path) -> Restorer:
    """restorer/ of a model folder, checked: every problem is a ModelError naming the file."""
    from .layout import read_json
    from .weights import load_state

    config = read_json(folder / CONFIG)
    expected = {"kind": KIND, "side": SIDE, "angles": ANGLES, "strengths": STRENGTHS,
                "coherences": COHERENCES}
    for key, value in expected.items():
        if config.get(key) != value:
            raise ModelError(f"{folder / CONFIG}: {key} must be {value!r}, got {config.get(key)!r}")
    footage = config.get("footage")
    if not isinstance(footage, list) or sorted(footage) != sorted(FOOTAGE):
        raise ModelError(f"{folder / CONFIG}: footage must be {', '.join(FOOTAGE)}, got {footage!r}")
    path = folder / WEIGHTS
    if not path.is_file():
        raise ModelError(f"missing model file: {path}")
    state = load_state([path], torch.float32, torch.device("cpu"))
    shapes = {"strength_edges": (STRENGTHS - 1,), "coherence_edges": (COHERENCES - 1,)}
    scales = config.get("scales", [])
    if not isinstance(scales, list) or not all(isinstance(v, (int, float)) and v >= 1 for v in scales) \
            or len(set(scales)) != len(scales):
        raise ModelError(f"{folder / CONFIG}: scales must be a list of distinct scales of at least 1, got "
                         f"{scales!r}")
    per_scale = (len(scales),) if scales else ()
    shapes.update({f"bank.{name}": (*per_scale, BUCKETS, TAPS) for name in FOOTAGE})
    if set(state) != set(shapes):
        raise ModelError(f"{path}: tensors {sorted(state)}, expected {sorted(shapes)}")
    for key, shape in shapes.items():
        if tuple(state[key].shape) != shape or not torch.isfinite(state[key]).all():
            raise ModelError(f"{path}: {key} must be finite and of shape {shape}, got "
                             f"{tuple(state[key].shape)}")
    classifier = None
    if "classifier" in config:
        from .footage import FootageClassifier

        classifier = FootageClassifier.from_json(config["classifier"], str(folder / CONFIG))
    return Restorer(state["strength_edges"], state["coherence_edges"],
                    {name: state[f"bank.{name}"] for name in FOOTAGE}, classifier,
                    tuple(float(v) for v in scales))
