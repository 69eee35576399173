"""footage=auto: decided once per clip from frames that depend only on its length, by the shipped nano's
classifier; the decision replaces `auto` in the settings, so it is in the session key."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest
from dcvsr_protocol.errors import ModelError
from dcvsr_protocol.settings import Settings

from dcvsr_engine.model import layout, load_model
from dcvsr_engine.model.footage import (
    FEATURES,
    PROBES,
    FootageClassifier,
    clip_features,
    decide_footage,
    fit_classifier,
    probe_frames,
)
from dcvsr_engine.server.dcvsr_renderer import DCVSRRenderer, session_base_key
from dcvsr_engine.server.frame_cache import FrameCache
from dcvsr_engine.server.renderer import ClipSpec

SHIPPED = layout.SHIPPED_DIR / layout.NANO


def natural_picture(size: int, seed: int) -> np.ndarray:
    """A piecewise-smooth picture as photographs are: a sky-like gradient, flat discs and boxes with
    hard edges and a patch of fine texture (foliage-like), slightly soft; (size, size, 3) in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size
    picture = ((0.3 + 0.4 * y)[..., None] * np.array([0.6, 0.7, 0.9])).astype(np.float32)
    for _ in range(12):
        cx, cy, r = rng.random(3) * [1.0, 1.0, 0.25]
        picture[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.random(3)
    for _ in range(6):
        x0, y0 = (rng.random(2) * size * 0.8).astype(int)
        w, h = (rng.random(2) * size * 0.3 + 8).astype(int)
        picture[y0:y0 + h, x0:x0 + w] = rng.random(3)
    texture = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), 1.0)
    patch = (x > 0.55) & (y > 0.55)
    picture[patch] = (0.2 + 0.6 * texture[patch])[:, None] * np.array([0.4, 0.8, 0.3], np.float32)
    return cv2.GaussianBlur(picture, (0, 0), 0.7)


def panning_clip(frames: int, size: int = 256) -> np.ndarray:
    """(frames, size, size, 3): a picture panning diagonally, 2 and 1 pixels a frame."""
    big = natural_picture(size + 2 * frames, 0)
    return np.stack([big[2 * t:2 * t + size, t:t + size] for t in range(frames)])


def clean_clip(frames: int, size: int = 256, scale: int = 2) -> np.ndarray:
    """A panning clip downscaled as `dcvsr eval --degrade clean` does (area-averaged: antialiased)."""
    return np.stack([cv2.resize(f, (size // scale,) * 2, interpolation=cv2.INTER_AREA)
                     for f in panning_clip(frames, size)])


def noisy_compressed(clip: np.ndarray) -> np.ndarray:
    """The same frames blurred, with Gaussian noise of 8/255 and JPEG quality 35."""
    rng = np.random.default_rng(1)
    out = []
    for frame in clip:
        frame = cv2.GaussianBlur(frame, (0, 0), 0.8) + rng.normal(0, 8 / 255, frame.shape).astype(np.float32)
        _, data = cv2.imencode(".jpg", (np.clip(frame, 0, 1) * 255).round().astype(np.uint8),
                                [cv2.IMWRITE_JPEG_QUALITY, 35])
        out.append(cv2.imdecode(data, cv2.IMREAD_COLOR).astype(np.float32) / 255)
    return np.stack(out)


@pytest.fixture(scope="module")
def nano():
    return load_model(SHIPPED, device="cpu", dtype="fp32")


def test_the_probed_frames_depend_only_on_the_clip_length():
    assert probe_frames(3) == [0, 1, 2]
    assert probe_frames(PROBES) == list(range(PROBES))
    frames = probe_frames(100)
    assert len(frames) == PROBES and frames[0] == 0 and frames[-1] == 99
    assert np.ptp(np.diff(frames)) <= 1  # evenly spaced


def test_the_shipped_classifier_tells_a_clean_downscale_from_a_noisy_compressed_one(nano):
    assert nano.restorer.classifier is not None
    clean = clean_clip(8)
    settings = Settings.for_model(nano.defaults(), scale=2.0)
    assert settings.footage == "auto"
    logged = []
    decided = decide_footage(nano, settings, lambda i: clean[i], len(clean), logged.append)
    assert decided.footage == "clean" and "footage auto: clean" in logged[0]
    noisy = noisy_compressed(clean)
    assert decide_footage(nano, settings, lambda i: noisy[i], len(clean)).footage == "degraded"
    explicit = Settings.for_model(nano.defaults(), scale=2.0, footage="degraded")
    assert decide_footage(nano, explicit, lambda i: clean[i], len(clean)) is explicit  # asked for: kept


def _render_first(renderer: DCVSRRenderer, clip: np.ndarray, start: int):
    spec = ClipSpec("clip", clip.shape[2], clip.shape[1], len(clip), Fraction(24), "f32", 3,
                    settings={"quality": "preview", "scale": 2.0})
    session = renderer.open(spec)
    assert session.settings.footage == "auto"
    read = []

    def sources(i: int) -> np.ndarray:
        read.append(i)
        return clip[i]

    frames = list(session.render(start, start + 1, sources, lambda done, total: None, lambda: False))
    return session, frames, read


def test_the_engine_decides_before_the_first_render_and_keys_the_session_with_it(tmp_path):
    clip = noisy_compressed(clean_clip(10, 128))
    renderer = DCVSRRenderer(model=str(SHIPPED), device="cpu", dtype="fp32",
                             cache=FrameCache(tmp_path / "cache", 0))
    first, frames, read = _render_first(renderer, clip, 0)
    assert len(frames) == 1 and set(probe_frames(len(clip))) <= set(read)
    assert first.settings.footage == "degraded" and first.sampler.settings.footage == "degraded"
    model = first.model
    assert first._base == session_base_key(first.settings, model.fingerprint, model.device, model.dtype,
                                           _threads(), "f32", clip.shape[1:3], first.colour.key)
    undecided = Settings.for_model(None, **{**first.settings.to_dict(), "footage": "auto"})
    assert first._base != session_base_key(undecided, model.fingerprint, model.device, model.dtype,
                                           _threads(), "f32", clip.shape[1:3], first.colour.key)
    later, _, _ = _render_first(renderer, clip, 7)  # another request order: the same decision and key
    assert later.settings == first.settings and later._base == first._base


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def test_a_classifier_fits_and_round_trips_and_a_bad_one_is_refused():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(FEATURES)))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(float)
    fitted = fit_classifier(x, y)
    right = [fitted.decide(row) == ("degraded" if t else "clean") for row, t in zip(x, y, strict=True)]
    assert np.mean(right) > 0.95
    assert FootageClassifier.from_json(fitted.to_json(), "here") == fitted
    with pytest.raises(ModelError, match="here: bad footage classifier"):
        FootageClassifier.from_json({**fitted.to_json(), "scale": [0.0] * len(FEATURES)}, "here")
    assert clip_features([natural_picture(64, 2)] * 3).shape == (len(FEATURES),)
