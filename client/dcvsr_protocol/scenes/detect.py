"""A scene-cut detector in numpy: a histogram and edge-change score with an adaptive threshold.

It follows PySceneDetect's content and adaptive detectors (which need OpenCV's GUI build, so are not
used): each frame is reduced to about `analysis_width` pixels across, and compared with the frame
before it by

- a colour histogram distance: half the L1 distance between the normalised histograms of luma and
  of two opponent chroma axes (B - Y, R - Y), averaged over the three: 0 for the same colours, 1 for
  colours that share nothing. It catches a cut between shots of different light and palette;
- an edge change: the fraction of the two frames' edge pixels (the tenth of each frame's pixels with
  the strongest luma gradient) that the other frame has no edge near (within one pixel).
  It catches a cut between shots of similar colours but different structure.

The score of frame i is their mean (0..1). Motion and noise give every frame of a shot a score of
its own size, so frame i starts a new shot when its score is `ratio` times the mean score of the
`window` frames on either side of it (PySceneDetect's adaptive threshold), and at least `min_score`
(so a still shot's tiny changes never count); a cut less than `min_scene` frames after the previous
one (or the clip's start) is dropped. Fades and dissolves spread the change over many frames and are
not reported: a slow transition carries over no state that would be wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detector:
    analysis_width: int = 96  # frames are reduced to about this many pixels across
    bins: int = 16  # histogram bins per axis
    ratio: float = 3.0  # a cut's score over the mean of its neighbours' scores
    min_score: float = 0.2  # and at least this (0..1)
    window: int = 2  # neighbours on each side
    min_scene: int = 6  # frames: no cut closer than this to the previous cut or the clip's start

    def cuts(self, frames: Iterable[np.ndarray]) -> list[int]:
        """The first frame of each new shot, ascending, in 1..len(frames)-1."""
        return self.cuts_from_scores(frame_scores(frames, self))

    def cuts_from_scores(self, scores: np.ndarray) -> list[int]:
        """scores[i] compares frame i with frame i-1 (scores[0] is 0)."""
        cuts: list[int] = []
        last = 0
        for i in range(1, len(scores)):
            lo, hi = max(1, i - self.window), min(len(scores), i + self.window + 1)
            neighbours = [scores[j] for j in range(lo, hi) if j != i]
            around = float(np.mean(neighbours)) if neighbours else 0.0
            if (scores[i] >= self.min_score and scores[i] >= self.ratio * around
                    and i - last >= self.min_scene):
                cuts.append(i)
                last = i
        return cuts


DETECTOR = Detector()


def detect_cuts(frames: Iterable[np.ndarray], detector: Detector = DETECTOR) -> list[int]:
    """Scene cuts of a clip given as (height, width, 3) RGB frames (float in [0, 1], uint8 or uint16)."""
    return detector.cuts(frames)


def frame_scores(frames: Iterable[np.ndarray], detector: Detector = DETECTOR) -> np.ndarray:
    """Per frame, how much it differs from the frame before (0..1); one pass, one frame held."""
    scores: list[float] = []
    previous: _Features | None = None
    for frame in frames:
        features = _features(frame, detector)
        scores.append(0.0 if previous is None else _change(previous, features))
        previous = features
    return np.asarray(scores, dtype=np.float64)


@dataclass(frozen=True)
class _Features:
    histograms: np.ndarray  # (3, bins), each row sums to 1
    edges: np.ndarray  # bool (h, w)
    near_edges: np.ndarray  # the edges grown by one pixel


def _reduce(frame: np.ndarray, width: int) -> np.ndarray:
    """Block means down to about `width` pixels across, as float RGB in [0, 1]."""
    rgb = np.asarray(frame)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"scene detection needs (height, width, 3) frames, got shape {rgb.shape}")
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(rgb.dtype, 1.0)
    f = max(1, rgb.shape[1] // width)
    h, w = rgb.shape[0] // f * f, rgb.shape[1] // f * f
    if h == 0:
        f, h, w = 1, rgb.shape[0], rgb.shape[1]
    small = rgb[:h, :w, :3].astype(np.float32).reshape(h // f, f, w // f, f, 3).mean(axis=(1, 3))
    return small / np.float32(scale)


def _features(frame: np.ndarray, detector: Detector) -> _Features:
    rgb = _reduce(frame, detector.analysis_width)
    luma = rgb.mean(axis=2)  # an analysis axis, not a colour conversion: any fixed weights will do
    axes = ((luma, 0.0, 1.0), (rgb[..., 2] - luma, -1.0, 1.0), (rgb[..., 0] - luma, -1.0, 1.0))
    hists = np.stack([np.histogram(np.clip(a, lo, hi), bins=detector.bins, range=(lo, hi))[0]
                      for a, lo, hi in axes])
    hists = hists / max(1, luma.size)
    gy, gx = np.gradient(luma)
    magnitude = np.hypot(gx, gy)
    edges = magnitude > max(0.02, float(np.percentile(magnitude, 90)))
    return _Features(hists.astype(np.float64), edges, _grow(edges))


def _grow(mask: np.ndarray) -> np.ndarray:
    """The mask dilated by one pixel (3x3)."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    wide = grown.copy()
    wide[:, 1:] |= grown[:, :-1]
    wide[:, :-1] |= grown[:, 1:]
    return wide


def _change(a: _Features, b: _Features) -> float:
    histogram = 0.5 * float(np.abs(a.histograms - b.histograms).sum(axis=1).mean())
    if a.edges.shape != b.edges.shape:
        return 1.0  # frames of another size: nothing in common
    total = int(a.edges.sum()) + int(b.edges.sum())
    unmatched = int((a.edges & ~b.near_edges).sum()) + int((b.edges & ~a.near_edges).sum())
    edge = unmatched / total if total else 0.0
    return 0.5 * (histogram + edge)
