"""TAP: Temporal Attention Propagation (the paper's odd steps).

Temporal windows are denoised one after another (forward on one TAP step,
backward on the next). When window n is denoised after its neighbour, the
neighbour's keys and values at the same spatial tile are taken, the L frames
whose keys have the largest standard deviation (the most detailed) are
selected, and their tokens are appended to the self-attention of every frame
of window n.

Choices where the paper is silent:
- The standard deviation is taken over all tokens and channels of a frame's
  keys, per layer and per guidance branch; ties go to the earlier frame.
- Across a segment boundary the previous segment's last window is not
  recomputed: the first window of a segment holds the carried context frames,
  and on forward steps TAP selects its source among those frames of the same
  pass (`context_frames`), which links the segments in the forward direction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch


def select_frames(key: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the `count` frames with the largest key std. key: (branches, frames, tokens, channels).

    Returns (branches, count), ascending within a branch.
    """
    std = key.float().flatten(2).std(dim=2)
    count = min(count, key.shape[1])
    # A stable descending sort: equal std keeps frame order.
    order = torch.sort(std, dim=1, descending=True, stable=True).indices[:, :count]
    return torch.sort(order, dim=1).values


def gather_frames(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x: (branches, frames, tokens, channels), index: (branches, L) -> (branches, L * tokens, channels)."""
    b, _, n, c = x.shape
    picked = torch.gather(x, 1, index[:, :, None, None].expand(b, index.shape[1], n, c))
    return picked.reshape(b, -1, c)


@dataclass
class TAPFrames:
    """The selected frames of one tile pass, per layer: what the next window appends."""

    keys: dict[str, torch.Tensor] = field(default_factory=dict)     # (branches, L * tokens, channels)
    values: dict[str, torch.Tensor] = field(default_factory=dict)
    selected: dict[str, torch.Tensor] = field(default_factory=dict)  # (branches, L) frame indices


@dataclass
class TAPCall:
    """TAP's part of one tile pass."""

    frames: int                          # L
    source: TAPFrames | None = None      # the neighbour's frames to append
    record: TAPFrames | None = None      # store this pass's selected frames here, for the next window
    context_frames: int = 0              # >0: select the source among this pass's first frames


def tap_tokens(layer: str, call: TAPCall, branches: int, key: torch.Tensor, value: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Record this pass's selected frames if asked; return the tokens to append to every frame, if any.

    key, value: (branches x frames, tokens, channels).
    """
    k = key.reshape(branches, -1, *key.shape[1:])
    v = value.reshape(branches, -1, *value.shape[1:])
    frames = k.shape[1]
    if call.record is not None:
        index = select_frames(k, call.frames)
        call.record.keys[layer] = gather_frames(k, index)
        call.record.values[layer] = gather_frames(v, index)
        call.record.selected[layer] = index
    if call.context_frames:
        c = call.context_frames
        index = select_frames(k[:, :c], call.frames)
        src_k, src_v = gather_frames(k, index), gather_frames(v, index)
    elif call.source is not None and layer in call.source.keys:
        src_k, src_v = call.source.keys[layer], call.source.values[layer]
    else:
        return None
    # The same tokens for every frame of a branch.
    src_k = src_k[:, None].expand(-1, frames, -1, -1).reshape(branches * frames, *src_k.shape[1:])
    src_v = src_v[:, None].expand(-1, frames, -1, -1).reshape(branches * frames, *src_v.shape[1:])
    return src_k, src_v


def is_tap_step(i: int, enabled: bool) -> bool:
    """TAP runs on the odd steps (the paper's)."""
    return i % 2 == 1 and enabled


def tap_forward(i: int) -> bool:
    """Whether TAP step i runs the windows forward; the direction alternates from one TAP step to
    the next, starting forward."""
    return ((i - 1) // 2) % 2 == 0


def tap_passes(i: int, windows: Sequence[Any], tiles: Sequence[Any], frames: int, context: int
               ) -> Iterator[tuple[Any, Any, TAPCall]]:
    """TAP step i's tile passes in order, as (window, tile, TAP's part).

    Tiles outer, windows inner (forward or backward): only one tile's neighbour frames are held at a
    time. Each window appends the frames its neighbour just selected; on forward steps the first
    window of a segment that carries `context` frames selects its source among them.
    """
    forward = tap_forward(i)
    order = windows if forward else windows[::-1]
    for tile in tiles:
        source = None
        for k, win in enumerate(order):
            record = TAPFrames() if k + 1 < len(order) else None
            own = context if forward and win.index == 0 else 0
            yield win, tile, TAPCall(frames, None if own else source, record, own)
            source = record
