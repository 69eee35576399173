"""Tiling and blending: weights sum to one, never thin out, and the last tile is flush with the border."""

import pytest
import torch
from dcvsr_protocol.settings import Settings

from dcvsr_engine.sampler.segments import plan_segments
from dcvsr_engine.sampler.tiles import SpatialGrid, TemporalGrid, axis_starts, min_raw_weight_per_axis


@pytest.mark.parametrize("height,width,tile,overlap", [
    (136, 240, 64, 0.5),   # 1080p output
    (24, 40, 16, 0.5),
    (16, 16, 16, 0.5),     # exactly one tile
    (8, 24, 16, 0.5),      # smaller than a tile on one axis
    (40, 56, 16, 0.25),
])
def test_spatial_weights_sum_to_one_with_a_stated_minimum(height, width, tile, overlap):
    grid = SpatialGrid(height, width, tile, overlap, multiple=8)
    total = torch.zeros(height, width)
    for t, w in zip(grid.tiles, grid.weights, strict=True):
        assert t.y % 8 == 0 and t.x % 8 == 0
        total[t.rows, t.cols] += w
    assert torch.allclose(total, torch.ones_like(total), atol=1e-6)
    assert grid.raw_total.min() >= min_raw_weight_per_axis(overlap) ** 2 - 1e-9
    assert max(t.y + t.h for t in grid.tiles) == height
    assert max(t.x + t.w for t in grid.tiles) == width
    # Every position is owned by a tile that covers it.
    for t in grid.tiles:
        owned = grid.owner == t.index
        assert owned[t.rows, t.cols].sum() == owned.sum()


@pytest.mark.parametrize("frames,window", [(35, 14), (14, 14), (5, 14), (1, 14), (20, 6)])
def test_temporal_weights_sum_to_one_and_last_window_is_flush(frames, window):
    grid = TemporalGrid(frames, window, 0.5)
    total = torch.zeros(frames)
    for w, weight in zip(grid.windows, grid.weights, strict=True):
        total[w.frames] += weight
    assert torch.allclose(total, torch.ones(frames), atol=1e-6)
    assert grid.raw_total.min() >= min_raw_weight_per_axis(0.5) - 1e-9
    assert grid.windows[-1].start + grid.windows[-1].length == frames
    assert grid.windows[0].start == 0


def test_axis_starts_half_overlap():
    assert axis_starts(136, 64, 0.5, 8) == [0, 32, 64, 72]
    assert axis_starts(35, 14, 0.5) == [0, 7, 14, 21]
    assert axis_starts(10, 14, 0.5) == [0]


def test_segments_partition_the_clip_and_restart_at_cuts():
    s = Settings(tile_frames=14, segment_frames=70)
    segs = plan_segments(200, s, cuts=[100])
    assert [(g.start, g.stop, g.context) for g in segs] == [(0, 70, 0), (70, 100, 7), (100, 170, 0),
                                                           (170, 200, 7)]
    no_tap = plan_segments(200, Settings(tap=False))
    assert all(g.context == 0 for g in no_tap)
