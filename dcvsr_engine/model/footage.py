"""`footage=auto`: tell, once per clip, whether its input is clean or degraded, and use that bank.

The restorer has a bank per kind of footage (restorer.py) and no one bank serves both. With
`footage=auto` and a model whose restorer carries a classifier, the clip's kind is decided before its
first frame is rendered, from PROBES frames evenly spaced over the clip: which frames depends only on
the clip's length, so no request order can change the decision, and the decided value replaces
`auto` in the settings (so it is in the session key and the cache keys). A restorer without a
classifier keeps `auto`: its mixture bank.

The classifier is a logistic regression on four statistics of the LR luma, each the median over the
probed frames: the noise level (Immerkaer's operator over the flattest quarter of the frame), the
blockiness of an 8-pixel grid (JPEG and video codecs), the share of high frequencies in the
gradient (blur lowers it, noise raises it) and the mean gradient (how busy the picture is, against
which the others are read). It is fitted on held-back crops of the training sources, clean and
degraded, each labelled with the bank that restores it better and weighted by how many dB the other
bank would lose (scripts/fit_footage.py; never on the evaluation clips), and stored in
restorer/config.json.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from dcvsr_protocol.errors import ModelError

PROBES = 8  # frames looked at per clip
FEATURES = ("log_noise", "log_blockiness", "log_hf_share", "log_gradient")
CLASSES = ("clean", "degraded")  # probability of the second is what the regression gives
_EPS = 1e-4


def probe_frames(num_frames: int) -> list[int]:
    """The frames a clip's footage is decided from: PROBES evenly spaced (all of a short clip)."""
    if num_frames <= PROBES:
        return list(range(num_frames))
    return sorted({round(i * (num_frames - 1) / (PROBES - 1)) for i in range(PROBES)})


def _luma(frame: np.ndarray) -> torch.Tensor:
    rgb = torch.from_numpy(np.ascontiguousarray(frame, dtype=np.float32))
    return (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])[None, None]


def frame_features(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) float RGB in [0, 1] -> the FEATURES of one LR frame."""
    y = _luma(frame)
    kernel = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])[None, None]
    lap = F.conv2d(y, kernel)[0, 0]
    gx = (y[0, 0, 1:-1, 2:] - y[0, 0, 1:-1, :-2]) / 2
    gy = (y[0, 0, 2:, 1:-1] - y[0, 0, :-2, 1:-1]) / 2
    grad = (gx * gx + gy * gy).sqrt()
    flat = grad <= torch.quantile(grad.flatten()[::max(1, grad.numel() // 200_000)], 0.25)
    noise = math.sqrt(math.pi / 2) / 6 * lap.abs()[flat].mean().item()
    dx = (y[0, 0, :, 1:] - y[0, 0, :, :-1]).abs()
    dy = (y[0, 0, 1:, :] - y[0, 0, :-1, :]).abs()
    on_x, on_y = torch.arange(dx.shape[1]) % 8 == 7, torch.arange(dy.shape[0]) % 8 == 7
    across = torch.cat([dx[:, on_x].flatten(), dy[on_y].flatten()]).mean().item()
    within = torch.cat([dx[:, ~on_x].flatten(), dy[~on_y].flatten()]).mean().item()
    hf = lap.abs().mean().item() / (grad.mean().item() + _EPS)
    busy = grad.mean().item()
    return np.log(np.array([noise + _EPS, (across + _EPS) / (within + _EPS), hf + _EPS, busy + _EPS]))


def clip_features(frames: Sequence[np.ndarray]) -> np.ndarray:
    """The median of frame_features over a clip's probed frames."""
    return np.median(np.stack([frame_features(f) for f in frames]), axis=0)


@dataclass(frozen=True)
class FootageClassifier:
    mean: tuple[float, ...]     # per feature, for standardising
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def degraded_probability(self, features: np.ndarray) -> float:
        z = (np.asarray(features) - np.asarray(self.mean)) / np.asarray(self.scale)
        return float(1.0 / (1.0 + math.exp(-(float(np.dot(z, self.weights)) + self.bias))))

    def decide(self, features: np.ndarray) -> str:
        return CLASSES[int(self.degraded_probability(features) > 0.5)]

    def to_json(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "mean": list(self.mean), "scale": list(self.scale),
                "weights": list(self.weights), "bias": self.bias}

    @classmethod
    def from_json(cls, value: Any, where: str) -> FootageClassifier:
        n = len(FEATURES)
        try:
            if value["features"] != list(FEATURES):
                raise ValueError(f"features must be {list(FEATURES)}")
            parts = [tuple(float(v) for v in value[k]) for k in ("mean", "scale", "weights")]
            bias = float(value["bias"])
            if any(len(p) != n for p in parts) or not all(math.isfinite(v) for p in parts for v in p) \
                    or not math.isfinite(bias) or min(parts[1]) <= 0:
                raise ValueError(f"mean, scale and weights must be {n} finite numbers, scale positive")
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{where}: bad footage classifier: {e}") from None
        return cls(*parts, bias)


def fit_classifier(features: np.ndarray, degraded: np.ndarray, weights: np.ndarray | None = None,
                   l2: float = 1e-3) -> FootageClassifier:
    """Logistic regression (L-BFGS, a little L2) of `degraded` (0/1 per row) on standardised features,
    each row weighted by `weights` (default 1)."""
    x = torch.tensor(features, dtype=torch.float64)
    mean, scale = x.mean(0), x.std(0).clamp(min=1e-6)
    z, t = (x - mean) / scale, torch.tensor(degraded, dtype=torch.float64)
    r = torch.ones_like(t) if weights is None else torch.tensor(weights, dtype=torch.float64)
    r = r / r.mean()
    w = torch.zeros(x.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        opt.zero_grad()
        value = F.binary_cross_entropy_with_logits(z @ w[:-1] + w[-1], t, weight=r) + l2 * (w[:-1] ** 2).sum()
        value.backward()
        return value

    opt.step(loss)
    w = w.detach()
    return FootageClassifier(tuple(mean.tolist()), tuple(scale.tolist()), tuple(w[:-1].tolist()),
                             float(w[-1]))


def decide_footage(model: Any, settings: Any, read: Callable[[int], np.ndarray], num_frames: int,
                   log: Callable[[str], None] | None = None) -> Any:
    """`settings` with footage=auto replaced by the clip's decided kind, when the model's restorer has a
    classifier; else `settings` unchanged. read(i): LR frame i as float (H, W, 3) in [0, 1]."""
    restorer = getattr(model, "restorer", None)
    if settings.footage != "auto" or restorer is None or restorer.classifier is None:
        return settings
    probes = probe_frames(num_frames)
    features = clip_features([read(i) for i in probes])
    choice = restorer.classifier.decide(features)
    if log is not None:
        p = restorer.classifier.degraded_probability(features)
        log(f"footage auto: {choice} (p(degraded) {p:.3f} from frames {probes}; "
            + ", ".join(f"{n} {v:.3f}" for n, v in zip(FEATURES, features, strict=True)) + ")")
    return replace(settings, footage=choice)
