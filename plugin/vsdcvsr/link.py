"""One engine connection and session per upscale() call, shared by every VapourSynth thread.

Knows nothing of VapourSynth: the filter hands it the source frames it fetched (through VapourSynth's
own frame requests) as a set of indices and a function that writes one into an engine slot.

- A lock serialises everything on the connection (a Client runs one request at a time).
- plan(a, b): the engine's PLAN (which source frames a render of a..b-1 reads), cached until the next
  render on this link (renders are what change the answer).
- render(a, b, n, ...): renders frames a..b-1 (whole chunks: the engine renders whole segments anyway)
  and returns frame n; the others are kept (`store`) for the neighbouring requests, within a byte limit,
  and dropped once taken. Before rendering it plans again under the lock: if the engine now needs a
  frame that was not fetched (its frame cache lost an entry, or it restarted) it raises Missing with
  what it needs, and the filter fetches that and tries once more.
- A lost connection (the engine died) is reopened once per call: the next engine computes the same
  pixels (the determinism contract), so frames already delivered stay valid.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Container
from typing import Any

import numpy as np
from dcvsr_client import Client, DCVSRClientError, EngineError, EngineGone

ReadInto = Callable[[int, np.ndarray], None]  # (source frame index, planar slot view) -> None
DEFAULT_STORE_BYTES = 1 << 30


class LinkError(Exception):
    """The engine refused or failed; the message says what happened."""


class Missing(Exception):
    """The engine needs source frames the caller did not fetch."""

    def __init__(self, needed: range) -> None:
        super().__init__(f"source frames {needed.start}..{needed.stop - 1} needed")
        self.needed = needed


class _NotFetched(Exception):
    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


class EngineLink:
    def __init__(self, open_args: dict[str, Any], *, connect: Callable[[], Client] | None = None,
                 store_bytes: int = DEFAULT_STORE_BYTES) -> None:
        self.open_args = open_args  # Client.open's arguments (clip, width, height, frames, ...)
        self.frames: int = open_args["frames"]
        self._connect = connect or Client.connect
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._session: Any = None
        self.out_size: tuple[int, int] | None = None
        self._generation = 0  # renders and reconnections so far: a cached plan is valid within one
        self._plans: dict[tuple[int, int], tuple[int, range]] = {}
        self._store: OrderedDict[int, np.ndarray] = OrderedDict()
        self._store_bytes = 0
        self.store_limit = store_bytes
        self._delivered = bytearray(self.frames)
        self._closed = False
        self.renders = 0  # RENDER requests sent (tests and the benchmark read it)
        self.reconnects = 0

    # -- the connection ---------------------------------------------------------------------------
    def open(self) -> tuple[int, int]:
        """Connect and open the session; returns the output size (width, height)."""
        with self._lock:
            self._ensure()
            assert self.out_size is not None
            return self.out_size

    def _ensure(self) -> Any:
        if self._closed:
            raise LinkError("this upscale() instance was closed (its VapourSynth core is gone)")
        if self._session is not None and self._client is not None and not self._client.closed:
            return self._session
        self._drop()
        try:
            client = self._connect()
        except DCVSRClientError as e:
            raise LinkError(str(e)) from None
        try:
            session = client.open(**self.open_args)
        except BaseException as e:
            client.close()
            if isinstance(e, EngineError):
                raise LinkError(str(e)) from None
            raise
        size = (session.out_format.width, session.out_format.height)
        if self.out_size is not None and size != self.out_size:
            client.close()
            raise LinkError(f"the engine now makes {size[0]}x{size[1]} frames where it made "
                            f"{self.out_size[0]}x{self.out_size[1]} (another default model?); "
                            "reload the script")
        if self.out_size is not None:
            self.reconnects += 1
        self.out_size = size
        self._client, self._session = client, session
        self._changed()
        return session

    def _changed(self) -> None:
        """The engine's state may have changed: cached plans are stale."""
        self._generation += 1
        self._plans.clear()

    def _drop(self) -> None:
        client, self._client, self._session = self._client, None, None
        if client is not None:
            client.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()
            self._store.clear()
            self._store_bytes = 0

    # -- planning -----------------------------------------------------------------------------------
    def plan(self, start: int, stop: int) -> range:
        """The source frames a render of start..stop-1 reads now (cached until the next render)."""
        with self._lock:
            cached = self._plans.get((start, stop))
            if cached is not None and cached[0] == self._generation:
                return cached[1]
            return self._plan(start, stop)

    def _plan(self, start: int, stop: int) -> range:
        for attempt in (0, 1):
            session = self._ensure()
            try:
                needed = session.plan(start, stop)
            except EngineGone:
                self._drop()
                if attempt:
                    raise LinkError("lost the connection to the dcvsr engine twice in a row") from None
                continue
            except DCVSRClientError as e:
                raise LinkError(str(e)) from None
            self._plans[(start, stop)] = (self._generation, needed)
            return needed
        raise AssertionError("unreachable")

    # -- frames ---------------------------------------------------------------------------------------
    def take(self, n: int) -> np.ndarray | None:
        """Output frame n if a render left it here (it is removed: each kept frame is handed out once)."""
        with self._lock:
            return self._pop(n)

    def _pop(self, n: int) -> np.ndarray | None:
        frame = self._store.pop(n, None)
        if frame is not None:
            self._store_bytes -= frame.nbytes
            self._delivered[n] = 1
        return frame

    def _keep(self, n: int, frame: np.ndarray) -> None:
        if self._delivered[n] or n in self._store or frame.nbytes > self.store_limit:
            return
        while self._store and self._store_bytes + frame.nbytes > self.store_limit:
            _, old = self._store.popitem(last=False)
            self._store_bytes -= old.nbytes
        self._store[n] = frame
        self._store_bytes += frame.nbytes

    def render(self, start: int, stop: int, n: int, fetched: Container[int],
               read_into: ReadInto) -> np.ndarray:
        """Output frame n (start <= n < stop), rendering start..stop-1 if the engine has to compute them.
        fetched: the source frames read_into can supply. Raises Missing or LinkError."""
        with self._lock:
            kept = self._pop(n)
            if kept is not None:
                return kept
            for attempt in (0, 1):
                needed = self._plan(start, stop)
                lost = [k for k in needed if k not in fetched]
                if lost:
                    raise Missing(needed)
                lo, hi = start, stop
                if not needed:  # the engine has these frames: ask only for the ones still wanted
                    lo, hi = n, n + 1
                    while hi < stop and not self._delivered[hi] and hi not in self._store:
                        hi += 1
                try:
                    return self._render(lo, hi, n, fetched, read_into)
                except EngineGone:
                    self._drop()
                    if attempt:
                        raise LinkError("lost the connection to the dcvsr engine twice in a row") from None
            raise AssertionError("unreachable")

    def _render(self, lo: int, hi: int, n: int, fetched: Container[int], read_into: ReadInto) -> np.ndarray:
        session = self._ensure()

        def supply(index: int, view: np.ndarray) -> None:
            if index not in fetched:
                raise _NotFetched(index)
            read_into(index, view)

        result = None
        self._changed()  # whatever happens, the engine's state may change
        self.renders += 1
        try:
            for index, frame in session.render(lo, hi, source_into=supply):
                if index == n:
                    result = frame
                    self._delivered[n] = 1
                else:
                    self._keep(index, frame)
        except _NotFetched:
            raise Missing(self._plan(lo, hi)) from None
        except EngineGone:
            raise
        except DCVSRClientError as e:
            raise LinkError(str(e)) from None
        if result is None:
            raise LinkError(f"the engine finished frames {lo}..{hi - 1} without frame {n}")
        return result
