"""A fair turn at the renderer, passed between sessions one step at a time.

There is one renderer (one model, one GPU). Each session's worker takes a turn
for one step of its render (one frame or one window), then queues again, so
requests of different sessions interleave in arrival order and are never
batched together. A worker that must wait for its client (a source frame)
hands the turn on while it waits.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Iterator


class Baton:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()
        self._holder: object | None = None
        self._local = threading.local()

    def _acquire(self) -> None:
        me = object()
        with self._cond:
            self._queue.append(me)
            while self._holder is not None or self._queue[0] is not me:
                self._cond.wait()
            self._queue.popleft()
            self._holder = me
        self._local.held = True

    def _release(self) -> None:
        self._local.held = False
        with self._cond:
            self._holder = None
            self._cond.notify_all()

    @property
    def held(self) -> bool:
        """Whether the calling thread holds the turn."""
        return getattr(self._local, "held", False)

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the renderer for one step (re-entrant: a holder just keeps it)."""
        if self.held:
            yield
            return
        self._acquire()
        try:
            yield
        finally:
            self._release()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Let others use the renderer while the holder waits; take it back (in turn) afterwards."""
        if not self.held:
            yield
            return
        self._release()
        try:
            yield
        finally:
            self._acquire()
