"""The narrow interface between the frame server and whatever makes the pixels.

The server owns sockets, slots, sessions and scheduling; a Renderer owns the
model. The server calls a renderer from one thread at a time (a fair turn
shared by all sessions), so one renderer serves every session without locks
of its own and never sees two sessions' work batched together.

Frames are numpy arrays of shape (height, width, channels) in the clip's dtype
(u8, u16, f16 or f32; channels 1, 3 or 4), whatever the transport's layout.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from dcvsr_protocol.colour import ColourTags

SourceFn = Callable[[int], np.ndarray]
ProgressFn = Callable[[int, int], None]
CancelledFn = Callable[[], bool]


class RequestAborted(Exception):
    """Raised out of sources() when the request ends early (cancelled, client gone, source missing).

    Renderers let it propagate; the server turns it into the request's error reply.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ClipSpec:
    """One clip as a client described it when opening a session."""

    clip: str  # identity: the same string for the same frames (e.g. a hash of path, size and mtime)
    width: int
    height: int
    frames: int
    fps: Fraction
    dtype: str  # "u8", "u16", "f16", "f32"
    channels: int
    colour: ColourTags = field(default_factory=ColourTags)
    settings: Mapping[str, Any] = field(default_factory=dict)  # unvalidated: the renderer checks them
    cuts: tuple[int, ...] = ()  # first frames of new scenes, ascending, each in 1..frames-1


class RenderSession(ABC):
    """A clip opened with fixed settings. Holds whatever state links one request to the next."""

    out_size: tuple[int, int]  # (width, height) of output frames
    source_window: int = 1  # the most source frames render() holds at once (sizes the source slots)

    @abstractmethod
    def sources_needed(self, start: int, stop: int) -> range:
        """The source frames a request for output frames start..stop-1 reads (a pure function)."""

    @abstractmethod
    def render(self, start: int, stop: int, sources: SourceFn, progress: ProgressFn,
               cancelled: CancelledFn) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index, frame) for output frames start..stop-1 in ascending order.

        sources(i) returns source frame i (read-only; valid until `source_window` other frames have
        been asked for since: copy what you keep longer). It may block while the client supplies the
        frame; it raises RequestAborted when the request ends early. progress(done, total) reports
        progress in units of the renderer's choosing; cancelled() says whether to stop early.

        A yielded frame is an (H_out, W_out, C) array of the clip's dtype, copied out before the
        generator is resumed (so it may be reused), or a function `write(dst)` that writes the frame
        into the (H_out, W_out, C) array it is given: the output slot itself, which spares a copy
        (e.g. a GPU tensor copied straight into the slot). write() runs outside the renderer's turn,
        possibly while another session renders: it may only read what belongs to its frame.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the session's state (called once, after its last request)."""


class Renderer(ABC):
    """Opens sessions. Created once per engine by the renderer factory."""

    name: str = "renderer"

    @abstractmethod
    def open(self, spec: ClipSpec) -> RenderSession:
        """Validate spec.settings (raise dcvsr_protocol.errors.SettingsError) and open a session."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model (engine shutdown)."""

    def stats(self) -> dict[str, bool | int | float | str | None]:
        """Figures for `dcvsr status` (device, memory, cache, work done): flat, scalar values only."""
        return {}


def materialize(frame: np.ndarray | Callable[[np.ndarray], None], shape: tuple[int, int, int],
                dtype: np.dtype | str) -> np.ndarray:
    """A yielded frame as an array (for callers of render() other than the server, e.g. tests)."""
    if callable(frame):
        out = np.empty(shape, dtype)
        frame(out)
        return out
    return np.asarray(frame)
