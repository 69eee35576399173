"""Source frames of one session: asked of the client ahead of need, kept in slots while in use.

The pool has `window + prefetch` slots. The renderer's `source_window` most
recently used frames are never evicted (the renderer may still hold them); the
other slots are filled, ahead of the renderer, with the next frames its
request needs, so the client's copy overlaps the renderer's work. The frames
the renderer reads are read-only views of the slots: no copy on this side.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from dcvsr_protocol import Code, PixelFormat, SlotError

from .renderer import RequestAborted

PENDING, READY, FAILED = "pending", "ready", "failed"


@dataclass
class Entry:
    frame: int
    slot: int
    seq: int
    state: str = PENDING
    generation: int = 0  # the slot's generation when asked: the client's write makes it one more
    array: np.ndarray | None = None
    last_use: int = 0  # 0: asked ahead, not used yet
    error: tuple[int, str] | None = None


class SourcePool:
    def __init__(self, *, slots: list[int], window: int, prefetch: int, fmt: PixelFormat, frames: int,
                 ask: Callable[[Entry], None], next_seq: Callable[[], int], arena: Any | None, baton: Any,
                 timeout: float) -> None:
        self.cond = threading.Condition()
        self.free = list(reversed(slots))
        self.window = window
        self.prefetch = prefetch
        self.fmt = fmt
        self.frames = frames
        self._ask_client = ask  # sends NEED_SOURCE for an entry
        self.arena = arena  # None: inline transport, pixels come in SOURCE_READY
        self.baton = baton
        self.timeout = timeout
        self.entries: dict[int, Entry] = {}
        self.by_seq: dict[int, Entry] = {}
        self.tick = 0
        self.request: Any = None
        self.needed = range(0)
        self.cursor = 0
        self.next_seq = next_seq

    # -- the worker's side --------------------------------------------------------------------
    def begin(self, request: Any, needed: range) -> None:
        with self.cond:
            self.request = request
            self.needed = needed
            self.cursor = needed.start
            self._prefetch()

    def end(self) -> None:
        """After a request: forget frames still asked for (their slots may be reused)."""
        with self.cond:
            for entry in list(self.entries.values()):
                if entry.state != READY:
                    self._drop(entry)
            self.request = None
            self.needed = range(0)

    def get(self, frame: int) -> np.ndarray:
        """The renderer's sources(frame): a read-only (H, W, C) view; may wait for the client."""
        request = self.request
        if request is None or not 0 <= frame < self.frames:
            raise IndexError(f"source frame {frame} is outside the clip")
        with self.cond:
            entry = self._lookup(frame)
            if entry is not None and entry.state == READY:
                return self._use(entry)
        deadline = time.monotonic() + self.timeout
        with self.baton.paused(), self.cond:  # others render while we wait for our client
            while True:
                request.check()
                if entry is None:
                    entry = self._lookup(frame)
                if entry is not None and entry.state != PENDING:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RequestAborted(Code.SOURCE_FAILED, f"the client did not supply source frame "
                                                             f"{frame} within {self.timeout:g} s")
                self.cond.wait(min(left, 0.5))
            if entry.state == FAILED:
                raise RequestAborted(*entry.error)
            return self._use(entry)

    def _use(self, entry: Entry) -> np.ndarray:
        self.tick += 1
        entry.last_use = self.tick
        self.cursor = max(self.cursor, entry.frame + 1)
        self._prefetch()
        return entry.array

    def _lookup(self, frame: int) -> Entry | None:
        """The frame's entry, asking the client for it if a slot can be had now."""
        entry = self.entries.get(frame)
        if entry is not None and entry.state == FAILED:
            return entry
        if entry is None:
            slot = self._slot(demand=True)
            if slot is not None:
                entry = self._ask(frame, slot)
        return entry

    def _slot(self, demand: bool) -> int | None:
        if self.free:
            return self.free.pop()
        used = sorted((e for e in self.entries.values() if e.state == READY and e.last_use),
                      key=lambda e: e.last_use)
        candidates = used[:max(0, len(used) - self.window)]
        if not candidates and demand:  # frames asked ahead but not used yet: the farthest goes first
            candidates = sorted((e for e in self.entries.values() if e.state == READY and not e.last_use),
                                key=lambda e: -e.frame)
        if not candidates:
            return None
        victim = candidates[0]
        del self.entries[victim.frame]
        victim.array = None
        return victim.slot

    def _ask(self, frame: int, slot: int) -> Entry:
        generation = self.arena.header(slot).generation if self.arena is not None else 0
        entry = Entry(frame=frame, slot=slot, seq=self.next_seq(), generation=generation)
        self.entries[frame] = entry
        self.by_seq[entry.seq] = entry
        self._ask_client(entry)
        return entry

    def _prefetch(self) -> None:
        if self.request is None:
            return
        pending = sum(1 for e in self.entries.values() if e.state == PENDING)
        while pending < self.prefetch and self.cursor < self.needed.stop:
            frame = self.cursor
            if frame not in self.entries:
                slot = self._slot(demand=False)
                if slot is None:
                    return
                self._ask(frame, slot)
                pending += 1
            self.cursor += 1

    def _drop(self, entry: Entry) -> None:
        self.entries.pop(entry.frame, None)
        self.by_seq.pop(entry.seq, None)
        entry.array = None
        self.free.append(entry.slot)

    # -- the connection's side ----------------------------------------------------------------
    def deliver(self, frame: int, seq: int, slot: int | None, data: memoryview | None) -> None:
        """SOURCE_READY arrived. Raises SlotError if it contradicts what was asked (after failing the
        entry, so the render reports it); a seq no longer awaited (a cancelled request) is ignored."""
        with self.cond:
            entry = self.by_seq.get(seq)
            if entry is None or entry.state != PENDING:
                return
            try:
                entry.array = self._check(entry, frame, slot, data)
                entry.state = READY
            except SlotError as e:
                entry.state = FAILED
                entry.error = (Code.BAD_SLOT, f"source frame {entry.frame}: {e}")
                self.free.append(entry.slot)
                raise
            finally:
                self.by_seq.pop(seq, None)
                self.cond.notify_all()

    def _check(self, entry: Entry, frame: int, slot: int | None, data: memoryview | None) -> np.ndarray:
        fmt = self.fmt
        if frame != entry.frame:
            raise SlotError(f"SOURCE_READY names frame {frame} for seq {entry.seq} (asked: {entry.frame})")
        if self.arena is None:
            if data is None or len(data) != fmt.nbytes:
                got = 0 if data is None else len(data)
                raise SlotError(f"inline data of {got} bytes, expected {fmt.nbytes}")
            array = np.frombuffer(data, dtype=fmt.np_dtype).reshape(fmt.shape)
        else:
            if slot != entry.slot:
                raise SlotError(f"slot {slot} named, slot {entry.slot} was asked")
            header = self.arena.header(slot)
            if header.sequence != entry.seq or header.frame != frame:
                raise SlotError(f"slot header has seq {header.sequence} frame {header.frame}")
            if header.generation != (entry.generation + 1) & 0xFFFFFFFF:
                raise SlotError("slot generation did not advance by one")
            if header.format() != fmt:
                raise SlotError("slot header format was changed")
            array = self.arena.view(slot)
        array.flags.writeable = False
        return array.transpose(1, 2, 0) if fmt.layout == "planar" else array

    def wake(self) -> None:
        """Make waiters re-check their request (it was aborted)."""
        with self.cond:
            self.cond.notify_all()

    def clear(self) -> None:
        """Drop every view into the slots (before the arena is destroyed)."""
        with self.cond:
            for entry in list(self.entries.values()):
                self._drop(entry)
