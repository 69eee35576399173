"""Temporal consistency: warping error and tOF, with OpenCV's DIS optical flow (no learned weights).

Flow convention (OpenCV's): flow(a, b)[y, x] = (u, v) with a(x, y) ~ b(x + u, y + v).
Flows are computed on luma (metrics.luma) quantised to 8 bits (DIS takes 8-bit images),
preset MEDIUM.

- Warping error (Lai et al. 2018, "Learning Blind Video Temporal Consistency"): for each pair
  (t, t+1), the forward and backward flows of the ground truth give a non-occlusion mask M
  (forward-backward consistency as Ruder et al. 2016: |w + w~|^2 <= 0.01 (|w|^2 + |w~|^2) + 0.5,
  w~ the backward flow sampled at x + w; plus x + w inside the frame). Output frame t+1 is warped
  back to t along the forward flow (bilinear), and
      E(t) = sum_x M(x) * mean_c (O_t(x, c) - warp(O_{t+1})(x, c))^2 / sum_x M(x)
  on RGB in [0, 1]; the clip's value is the mean over pairs. The flow comes from the ground truth,
  not the output, so every method is measured along the same motion and an output's artefacts
  cannot bend the flow to excuse themselves.
- tOF (TecoGAN, Chu et al. 2020): mean over pairs and pixels of the end-point distance
  |flow(O_t, O_{t+1}) - flow(G_t, G_{t+1})|_2, in output pixels.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .metrics import luma

FB_ALPHA, FB_BETA = 0.01, 0.5  # Ruder et al.'s forward-backward consistency thresholds


def _cv2():
    import cv2

    return cv2


def _u8(frame: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(luma(frame) * 255.0), 0, 255).astype(np.uint8)


def optical_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """DIS flow from frame a to frame b (RGB or luma), (H, W, 2) float32 in pixels."""
    cv2 = _cv2()
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(_u8(a), _u8(b), None)


def _sample_points(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """image sampled at x + flow(x), bilinear, edges replicated: brings frame t+1 back to t along
    the flow from t to t+1. image is (H, W) or (H, W, C) with C <= 4."""
    cv2 = _cv2()
    mx, my = _sample_points(flow)
    return cv2.remap(np.ascontiguousarray(image, dtype=np.float32), mx, my, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def consistency_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """True where the forward flow (t -> t+1) is trusted: its target is inside the frame and the
    backward flow (t+1 -> t) there brings it back (forward-backward consistency)."""
    h, w = forward.shape[:2]
    mx, my = _sample_points(forward)
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    back = warp(backward, forward)
    loop = ((forward + back) ** 2).sum(-1)
    bound = FB_ALPHA * ((forward**2).sum(-1) + (back**2).sum(-1)) + FB_BETA
    return inside & (loop <= bound)


@dataclass
class ReferenceMotion:
    """The ground truth's motion, computed once per clip: forward flows and their masks per pair."""

    forward: list[np.ndarray]
    masks: list[np.ndarray]

    @classmethod
    def of(cls, frames: Sequence[np.ndarray]) -> ReferenceMotion:
        forward, masks = [], []
        for a, b in itertools.pairwise(frames):
            fw, bw = optical_flow(a, b), optical_flow(b, a)
            forward.append(fw)
            masks.append(consistency_mask(fw, bw))
        return cls(forward, masks)


def warping_error(frames: Sequence[np.ndarray], motion: ReferenceMotion,
                  pairs: Sequence[int] | None = None) -> float:
    """Masked mean squared difference between O_t and O_{t+1} warped to t (see the module doc), over
    every pair or over the pairs t in `pairs`; NaN for a single frame or when every pixel is masked."""
    if len(frames) != len(motion.forward) + 1:
        raise ValueError(f"{len(frames)} frames for {len(motion.forward)} flows")
    chosen = set(range(len(motion.forward)) if pairs is None else pairs)
    errors = []
    for t, (flow, mask) in enumerate(zip(motion.forward, motion.masks, strict=True)):
        if t not in chosen or not mask.any():
            continue
        a = np.asarray(frames[t], dtype=np.float64)
        b = warp(frames[t + 1], flow).astype(np.float64)
        diff = (a - b) ** 2
        if diff.ndim == 3:
            diff = diff.mean(-1)
        errors.append(float(diff[mask].mean()))
    return float(np.mean(errors)) if errors else math.nan


def tof(frames: Sequence[np.ndarray], motion: ReferenceMotion) -> float:
    """Mean end-point distance between the output's flow and the ground truth's flow, per pair;
    NaN for a single frame."""
    if len(frames) != len(motion.forward) + 1:
        raise ValueError(f"{len(frames)} frames for {len(motion.forward)} flows")
    if not motion.forward:
        return math.nan
    distances = []
    for t, reference in enumerate(motion.forward):
        flow = optical_flow(frames[t], frames[t + 1])
        distances.append(float(np.sqrt(((flow - reference) ** 2).sum(-1)).mean()))
    return float(np.mean(distances))
