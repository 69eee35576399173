"""What the sampler tells the attention processors about the UNet call in progress.

The UNet's `forward` takes no per-call attention arguments, so the sampler
sets `AttentionState.call` before each tile pass and the processors, which
hold the state object, read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sap import SAPCall
from .tap import TAPCall


@dataclass
class TileCall:
    frames: int                   # frames per branch in this pass
    branches: int                 # 1: conditional only; 2: (unconditional, conditional), in that order
    tile_hw: tuple[int, int]      # latent size of the tile: gives each layer's token grid
    gamma: float = 0.0            # DSSAG gamma for the unconditional branch (0: plain attention)
    sap: SAPCall | None = None
    tap: TAPCall | None = None

    def layer_grid(self, tokens: int) -> tuple[int, int, int]:
        """(downsampling factor, rows, columns) of a layer that sees `tokens` tokens per frame."""
        h0, w0 = self.tile_hw
        factor = round((h0 * w0 / tokens) ** 0.5)
        h, w = h0 // factor, w0 // factor
        if h * w != tokens:
            raise RuntimeError(f"cannot place {tokens} tokens on a {h0}x{w0} latent tile")
        return factor, h, w


class AttentionState:
    """Shared by every processor of one UNet; `call` is None outside the sampler."""

    def __init__(self) -> None:
        self.call: TileCall | None = None
