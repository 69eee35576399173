"""SAP: Spatial Attention Propagation (the paper's even steps).

Every spatial tile of a window contributes the keys and values of its own
region, subsampled with a uniform stride per axis, to a whole-frame set
(K_{t,n}, V_{t,n}); each tile is then denoised with its self-attention
extended by that set, per frame: SA(Q_tile, [K_tile ; K_{t,n}], [V_tile ; V_{t,n}]).

Choices where the paper is silent:
- The whole-frame set includes the tile's own subsampled tokens (the paper's
  figure suggests it does).
- Overlapping tiles would contribute the same position several times; each
  position on the subsampling grid is taken from exactly one tile, the one
  whose blending weight is largest there, so the set has no duplicates and its
  order (row-major in the frame) does not depend on the order tiles run in.
- With classifier-free guidance each branch gathers and uses its own tokens
  (they live in different rows of the batch).
- What is gathered is the layer's input (the hidden states) at those
  positions, projected to keys and values once per window when first used:
  half the memory of gathering keys and values, which matters when the
  'previous' gathering keeps a whole segment's windows (projections are per
  token, so the result is the same attention).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch


class Tile(Protocol):
    index: int
    y: int
    x: int
    h: int
    w: int


class Window(Protocol):
    index: int


class TileGrid(Protocol):
    """The sampler's spatial grid: tiles, and which tile owns each latent position."""

    height: int
    width: int
    tiles: list
    owner: torch.Tensor  # (height, width) tile index


class SAPLayout:
    """Which of a tile's tokens feed which slot of the whole-frame set, per layer resolution."""

    def __init__(self, grid: TileGrid, stride: int):
        self.grid, self.stride = grid, stride
        self._plans: dict[int, tuple[int, dict[int, tuple[torch.Tensor, torch.Tensor]]]] = {}

    def plan(self, factor: int) -> tuple[int, dict[int, tuple[torch.Tensor, torch.Tensor]]]:
        """(set size, {tile index: (local token indices, slots)}) for a layer downsampled by `factor`."""
        if factor not in self._plans:
            g, s = self.grid, self.stride
            ys = torch.arange(0, g.height // factor, s)
            xs = torch.arange(0, g.width // factor, s)
            owner = g.owner[ys[:, None] * factor, xs[None, :] * factor].reshape(-1)
            yy = ys[:, None].expand(len(ys), len(xs)).reshape(-1)
            xx = xs[None, :].expand(len(ys), len(xs)).reshape(-1)
            per_tile = {}
            for t in g.tiles:
                slots = torch.nonzero(owner == t.index).reshape(-1)
                local = (yy[slots] - t.y // factor) * (t.w // factor) + (xx[slots] - t.x // factor)
                per_tile[t.index] = (local, slots)
            self._plans[factor] = (len(owner), per_tile)
        return self._plans[factor]


Projection = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # hidden -> (keys, values)


class SAPGather:
    """The whole-frame tokens of one temporal window, per layer."""

    def __init__(self, layout: SAPLayout):
        self.layout = layout
        self.hidden: dict[str, torch.Tensor] = {}
        self._projected: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(self, layer: str, tile: Tile, factor: int, hidden: torch.Tensor) -> None:
        """Store a tile's share. hidden: (rows, tokens, channels), rows = branches x frames."""
        size, per_tile = self.layout.plan(factor)
        local, slots = per_tile[tile.index]
        if layer not in self.hidden:
            self.hidden[layer] = hidden.new_zeros((hidden.shape[0], size, hidden.shape[2]))
        self._projected.pop(layer, None)
        self.hidden[layer][:, slots.to(hidden.device)] = hidden[:, local.to(hidden.device)]

    def tokens(self, layer: str, project: Projection) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of the whole-frame set, projected by the layer on first use."""
        if layer not in self._projected:
            self._projected[layer] = project(self.hidden[layer])
        return self._projected[layer]


@dataclass
class SAPCall:
    """SAP's part of one tile pass."""

    tile: Tile
    record: SAPGather | None = None   # store this tile's share here (gather pass, or for the next step)
    extend: SAPGather | None = None   # extend the attention with this whole-frame set


def sap_tokens(layer: str, call: SAPCall, factor: int, hidden: torch.Tensor, project: Projection
               ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Record the tile's share if asked; return the keys and values to append, if any."""
    if call.record is not None:
        call.record.record(layer, call.tile, factor, hidden)
    if call.extend is None:
        return None
    return call.extend.tokens(layer, project)


def is_sap_step(i: int, enabled: bool, tiles: int) -> bool:
    """SAP runs on the even steps (the paper's). With one tile the whole frame is the tile: SAP has
    nothing to propagate, and its gather pass would be wasted."""
    return i % 2 == 0 and enabled and tiles > 1


def has_gather_pass(i: int, gather: str) -> bool:
    """Whether SAP step i runs the gather pass: always with 'exact' gathering; with 'previous' only on
    the first step, the later ones use the set recorded during the step before."""
    return gather == "exact" or i == 0


def records_ahead(gather: str, next_is_sap: bool) -> bool:
    """Whether a step's passes record the whole-frame set for the next step ('previous' gathering)."""
    return gather == "previous" and next_is_sap


def sap_passes(windows: Sequence[Any], tiles: Sequence[Tile], layout: SAPLayout,
               gathers: dict[int, SAPGather]) -> Iterator[tuple[Any, Tile, SAPCall, bool]]:
    """A SAP step's tile passes in order, as (window, tile, SAP's part, merged into the output).

    Per window: the paper's gather pass (every tile once, keys and values only, not merged), unless
    `gathers` holds the window's whole-frame set already (recorded during the step before: the
    'previous' gathering); then every tile with its attention extended by the set.
    """
    for win in windows:
        whole = gathers.get(win.index)
        if whole is None:
            whole = SAPGather(layout)
            for tile in tiles:
                yield win, tile, SAPCall(tile, record=whole), False
        for tile in tiles:
            yield win, tile, SAPCall(tile, extend=whole), True
        gathers.pop(win.index, None)  # this window is done: free its whole-frame tokens
