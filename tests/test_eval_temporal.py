"""Temporal metrics of `dcvsr eval`: warping error and tOF on exactly rendered motion (OpenCV DIS flow)."""

from __future__ import annotations

import math

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from dcvsr_engine.evaluation.temporal import (  # noqa: E402
    ReferenceMotion,
    consistency_mask,
    optical_flow,
    tof,
    warp,
    warping_error,
)

VELOCITY = (1.3, 0.7)  # pixels per frame, x and y


@pytest.fixture(autouse=True, scope="module")
def _one_cv_thread():
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(previous)


def render(t: float, h: int = 48, w: int = 64, velocity=VELOCITY) -> np.ndarray:
    """Frame t of a smooth texture translating at `velocity`, evaluated exactly (no resampling)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = xs - velocity[0] * t, ys - velocity[1] * t
    v = 0.5 + 0.2 * np.sin(2 * np.pi * x / 23 + 0.3) * np.cos(2 * np.pi * y / 17) \
        + 0.15 * np.sin(2 * np.pi * (x + y) / 11)
    return np.stack([v, 0.8 * v + 0.1, 1 - v], -1).astype(np.float32)


@pytest.fixture(scope="module")
def clip():
    frames = [render(t) for t in range(5)]
    return frames, ReferenceMotion.of(frames)


def flicker(frames, amplitude):
    return [np.clip(f + amplitude * (-1) ** t, 0, 1) for t, f in enumerate(frames)]


def test_dis_recovers_the_translation(clip):
    _, motion = clip
    for flow, mask in zip(motion.forward, motion.masks, strict=True):
        assert flow[mask].mean(0) == pytest.approx(VELOCITY, abs=0.1)
        assert 0.85 < mask.mean() < 1.0  # the pixels whose target leaves the frame are masked


def test_warping_error_is_zero_for_pure_translation_and_grows_with_flicker(clip):
    frames, motion = clip
    clean = warping_error(frames, motion)
    assert clean < 2e-4
    small, large = warping_error(flicker(frames, 0.02), motion), warping_error(flicker(frames, 0.05), motion)
    # Alternating +-a between neighbours is a difference of 2a everywhere: 4 a^2.
    assert small == pytest.approx(4 * 0.02**2, rel=0.3)
    assert large == pytest.approx(4 * 0.05**2, rel=0.2)
    assert clean < small / 5 < large / 5
    # An output that does not move where the ground truth does is inconsistent too.
    assert warping_error([frames[0]] * len(frames), motion) > 20 * clean
    assert math.isnan(warping_error(frames[:1], ReferenceMotion.of(frames[:1])))


def test_tof_is_zero_for_the_ground_truth_and_measures_wrong_motion(clip):
    frames, motion = clip
    assert tof([f.copy() for f in frames], motion) == 0.0
    # A frozen output has zero flow: the distance is the true speed.
    assert tof([frames[0]] * len(frames), motion) == pytest.approx(math.hypot(*VELOCITY), abs=0.25)
    slower = [render(t, velocity=(0.65, 0.35)) for t in range(5)]
    assert tof(slower, motion) == pytest.approx(math.hypot(*VELOCITY) / 2, abs=0.25)
    with pytest.raises(ValueError):
        tof(frames[:3], motion)


def test_warp_and_consistency_mask():
    rng = np.random.default_rng(0)
    image = rng.random((10, 12, 3)).astype(np.float32)
    flow = np.zeros((10, 12, 2), np.float32)
    flow[..., 0] = 2.0  # sample two pixels to the right
    warped = warp(image, flow)
    assert np.allclose(warped[:, :-2], image[:, 2:])
    back = -flow
    mask = consistency_mask(flow, back)
    assert mask[:, :-2].all() and not mask[:, -2:].any()  # targets past the right edge
    assert not consistency_mask(flow, flow)[:, :-2].any()  # forward and backward disagree by 4 px
    a = render(0)
    assert np.abs(optical_flow(a, a)).max() < 1e-3
