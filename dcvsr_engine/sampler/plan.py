"""How a clip is cut into segments, windows and tiles, and what that costs in UNet passes.

Depends only on the settings and the model's shape (VAE factor, UNet
downsampling), so benchmarks and servers can plan without loading a model.
"""

from __future__ import annotations

from collections.abc import Iterable

from dcvsr_protocol.errors import SettingsError
from dcvsr_protocol.settings import Settings

from ..attention.sap import has_gather_pass, is_sap_step
from ..attention.tap import is_tap_step
from .conditioning import Geometry, geometry
from .segments import Segment, plan_segments
from .tiles import SpatialGrid, TemporalGrid


class Plan:
    def __init__(self, settings: Settings, vae_factor: int = 8, unet_multiple: int = 8):
        if settings.tile_size % unet_multiple:
            raise SettingsError(f"tile_size must be a multiple of {unet_multiple} (the UNet's downsampling), "
                                f"got {settings.tile_size}")
        self.settings, self.vae_factor, self.unet_multiple = settings, vae_factor, unet_multiple

    def geometry(self, in_h: int, in_w: int) -> Geometry:
        return geometry(in_h, in_w, self.settings.scale, self.vae_factor, self.unet_multiple)

    def segments(self, num_frames: int, cuts: Iterable[int] = ()) -> list[Segment]:
        return plan_segments(num_frames, self.settings, cuts)

    def spatial_grid(self, geo: Geometry) -> SpatialGrid:
        h, w = geo.latent_hw
        return SpatialGrid(h, w, self.settings.tile_size, self.settings.tile_overlap, self.unet_multiple)

    def temporal_grid(self, frames: int) -> TemporalGrid:
        return TemporalGrid(frames, self.settings.tile_frames, self.settings.frame_overlap)

    def step_kind(self, i: int, tiles: int) -> str:
        """'sap', 'tap' or 'plain': sap.py and tap.py each say on which steps they run."""
        if is_sap_step(i, self.settings.sap, tiles):
            return "sap"
        if is_tap_step(i, self.settings.tap):
            return "tap"
        return "plain"

    def passes_per_segment(self, windows: int, tiles: int) -> int:
        """UNet tile passes one segment costs (SAP's gather passes included)."""
        s = self.settings
        gather_steps = sum(1 for i in range(s.steps)
                           if self.step_kind(i, tiles) == "sap" and has_gather_pass(i, s.sap_gather))
        return (s.steps + gather_steps) * windows * tiles

    def segment_passes(self, segment: Segment, tiles: int) -> int:
        """UNet tile passes a segment costs, its carried context frames included."""
        windows = self.temporal_grid(segment.context + segment.frames).windows
        return self.passes_per_segment(len(windows), tiles)

    def passes(self, num_frames: int, in_h: int, in_w: int, cuts: Iterable[int] = ()) -> int:
        """UNet tile passes a whole clip costs."""
        tiles = len(self.spatial_grid(self.geometry(in_h, in_w)).tiles)
        return sum(self.segment_passes(seg, tiles) for seg in self.segments(num_frames, cuts))
