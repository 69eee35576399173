"""Spatio-temporal tiles and their Gaussian blending weights.

Tiles overlap by a fraction of their size; the last tile on each axis is
flush with the border. A tile's weight is a Gaussian around its centre, made
flat on a side that touches the border of the range (there is no neighbour to
blend with), and the weights of all tiles are normalised to sum to one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Gaussian sigma as a fraction of the tile length along an axis.
SIGMA_FRACTION = 0.25


def min_raw_weight_per_axis(overlap: float) -> float:
    """The stated lower bound of the raw (un-normalised) total weight along one axis.

    Tile centres are at most a stride apart, so every position lies within half a
    stride, (1 - overlap) * tile / 2, of some centre: exp(-0.5) at 50% overlap.
    Border halves are flat, so the border never falls below that either.
    """
    return math.exp(-0.5 * (2.0 * (1.0 - overlap)) ** 2)


def axis_starts(length: int, tile: int, overlap: float, multiple: int = 1) -> list[int]:
    """Start offsets of tiles along one axis: strided, the last flush with the end.

    Starts are multiples of `multiple` when `length` and `tile` are (the UNet's
    downsampling needs aligned tiles). A range shorter than a tile gets one tile.
    """
    if length <= tile:
        return [0]
    stride = max(multiple, int(tile * (1.0 - overlap)) // multiple * multiple)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def axis_weights(length: int, starts: list[int], tile: int) -> torch.Tensor:
    """Raw weights, shape (len(starts), length): zero outside each tile."""
    tile = min(tile, length)
    out = torch.zeros(len(starts), length, dtype=torch.float64)
    pos = torch.arange(tile, dtype=torch.float64)
    centre = (tile - 1) / 2.0
    g = torch.exp(-0.5 * ((pos - centre) / (SIGMA_FRACTION * tile)) ** 2)
    for i, s in enumerate(starts):
        w = g.clone()
        if s == 0:
            w[: tile // 2] = 1.0
        if s + tile == length:
            w[tile // 2:] = 1.0
        out[i, s:s + tile] = w
    return out


@dataclass(frozen=True)
class Tile:
    """A spatial tile in latent pixels."""

    index: int
    y: int
    x: int
    h: int
    w: int

    @property
    def rows(self) -> slice:
        return slice(self.y, self.y + self.h)

    @property
    def cols(self) -> slice:
        return slice(self.x, self.x + self.w)


@dataclass(frozen=True)
class Window:
    """A temporal tile: frames [start, start + length) of the working range."""

    index: int
    start: int
    length: int

    @property
    def frames(self) -> slice:
        return slice(self.start, self.start + self.length)


class SpatialGrid:
    """Spatial tiles over an (H, W) latent and their normalised weights.

    A tile's raw weight is the outer product of its two axis weights, so the total is the outer
    product of the axis totals and a tile's normalised weight is the outer product of its axis
    weights divided by the axis totals: nothing of size tiles x H x W is ever built (at 1080p x4
    with 16-pixel tiles that was 31 GB). Memory: one (h, w) float32 per tile and the (H, W) owner map.
    """

    def __init__(self, height: int, width: int, tile: int, overlap: float, multiple: int):
        self.height, self.width = height, width
        th, tw = min(tile, height), min(tile, width)
        ys = axis_starts(height, th, overlap, multiple)
        xs = axis_starts(width, tw, overlap, multiple)
        self.tiles = [Tile(i * len(xs) + j, y, x, th, tw) for i, y in enumerate(ys) for j, x in enumerate(xs)]
        wy, wx = axis_weights(height, ys, th), axis_weights(width, xs, tw)
        ty, tx = wy.sum(0), wx.sum(0)
        self.raw_total = ty[:, None] * tx[None, :]
        ny, nx = wy / ty, wx / tx
        self.weights = [(ny[t.index // len(xs), t.rows][:, None] * nx[t.index % len(xs), t.cols][None, :])
                        .float() for t in self.tiles]
        # The tile whose weight is largest at each position: SAP takes each gathered token from exactly
        # one tile, so the whole-frame set has no duplicates. Weights are products of non-negative axis
        # weights, so the largest is the product of the axes' largest (the first of equals, as argmax).
        self.owner = wy.argmax(0)[:, None] * len(xs) + wx.argmax(0)[None, :]


class TemporalGrid:
    """Temporal windows over a working range of frames and their normalised weights."""

    def __init__(self, frames: int, window: int, overlap: float):
        length = min(window, frames)
        starts = axis_starts(frames, length, overlap)
        self.windows = [Window(i, s, length) for i, s in enumerate(starts)]
        raw = axis_weights(frames, starts, length)
        self.raw_total = raw.sum(0)
        self.weights = [(raw[w.index] / self.raw_total)[w.frames].float() for w in self.windows]
