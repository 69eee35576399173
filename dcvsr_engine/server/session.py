"""A clip open for one connection: its requests run in order on a worker thread of its own.

The worker takes the renderer's turn (baton) one step at a time, copies each
output frame into a free output slot (the one copy on this side) and tells the
client; the client hands the slot back with RELEASE. Closing, cancelling and a
vanished client all come down to aborting requests and letting the worker end.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from dcvsr_protocol import Code, Kind, Message, PixelFormat, SlotError

from .renderer import ClipSpec, RenderSession, RequestAborted
from .sources import Entry, SourcePool

if TYPE_CHECKING:
    from .arena import Arena

log = logging.getLogger("dcvsr.server")
_END = object()
PROGRESS_INTERVAL = 0.2  # seconds between PROGRESS messages of one request


class Request:
    def __init__(self, rid: int, start: int, stop: int) -> None:
        self.rid = rid
        self.start = start
        self.stop = stop
        self.reason: tuple[int, str] | None = None

    @property
    def aborted(self) -> bool:
        return self.reason is not None

    def abort(self, code: int, message: str) -> None:
        if self.reason is None:
            self.reason = (code, message)

    def check(self) -> None:
        if self.reason is not None:
            raise RequestAborted(*self.reason)


# Queues a reply on the session's connection; wait=True returns once it was sent. False: it was not.
Post = Callable[..., bool]


class ServerSession:
    """A clip open on one connection: its requests, slots and sources, around a RenderSession.

    It talks back only through `post` and tells its owner it ended through `on_end`; the
    connection asks it for what it needs (submit, cancel, release, deliver, close, plan).
    """

    def __init__(self, sid: int, spec: ClipSpec, rsession: RenderSession,
                 src_fmt: PixelFormat, out_fmt: PixelFormat, arena: Arena | None, n_out: int,
                 n_src: int, baton: Any, source_timeout: float, post: Post,
                 on_end: Callable[[ServerSession], None]) -> None:
        self.id = sid
        self.spec = spec
        self._rsession = rsession
        self._post = post
        self.src_fmt = src_fmt
        self.out_fmt = out_fmt
        self.arena = arena
        self.baton = baton
        self._on_end = on_end
        self._seqs = itertools.count(1)
        self.cond = threading.Condition()
        self.queue: deque[Request] = deque()
        self.current: Request | None = None
        self.closing: tuple[int, str] | None = None
        self.close_rid: int | None = None
        self.out_free = deque(range(n_out))
        self.out_held: dict[int, int] = {}
        self.pool = SourcePool(
            slots=arena.source_slots if arena is not None else list(range(n_src)),
            window=max(1, int(rsession.source_window)), prefetch=n_src - max(1, int(rsession.source_window)),
            fmt=src_fmt, frames=spec.frames, ask=self._ask_source, next_seq=self._next_seq,
            arena=arena, baton=baton, timeout=source_timeout)
        self.worker = threading.Thread(target=self._work, name=f"dcvsr-session-{sid}", daemon=True)
        self.worker.start()

    def _next_seq(self) -> int:
        return next(self._seqs)

    # -- called from the connection's reader --------------------------------------------------
    def submit(self, rid: int, start: int, stop: int, limit: int) -> bool:
        """Queue a render; False if `limit` requests are queued already."""
        with self.cond:
            if len(self.queue) >= limit:
                return False
            self.queue.append(Request(rid, start, stop))
            self.cond.notify_all()
            return True

    def cancel(self, rid: int) -> bool:
        """Cancel a queued or running request; False if no such request (it may have just ended)."""
        with self.cond:
            for request in [*self.queue, self.current]:
                if request is not None and request.rid == rid:
                    request.abort(Code.CANCELLED, "cancelled by the client")
                    self.cond.notify_all()
                    self.pool.wake()
                    return True
        return False

    def release(self, slot: int, seq: int) -> None:
        with self.cond:
            if self.out_held.get(slot) != seq:
                raise SlotError(f"slot {slot} with seq {seq} is not held by the client")
            del self.out_held[slot]
            self.out_free.append(slot)
            self.cond.notify_all()

    def plan(self, start: int, stop: int) -> range:
        """The source frames rendering start..stop-1 reads (what a PLAN request answers)."""
        return self._rsession.sources_needed(start, stop)

    def deliver(self, frame: int, seq: int, slot: int | None, data: memoryview | None) -> None:
        arena = self.arena
        if slot is not None and (arena is None or not arena.n_out <= slot < len(arena.offsets)):
            raise SlotError(f"slot {slot} is not a source slot")
        self.pool.deliver(frame, seq, slot, data)

    def close(self, code: int, message: str, rid: int | None = None) -> None:
        """End the session: abort its requests; the worker cleans up (and answers CLOSED if rid)."""
        with self.cond:
            if self.closing is None:
                self.closing = (code, message)
                self.close_rid = rid
            for request in [*self.queue, self.current]:
                if request is not None:
                    request.abort(code, message)
            self.cond.notify_all()
        self.pool.wake()

    # -- the worker ---------------------------------------------------------------------------
    def _work(self) -> None:
        try:
            while True:
                with self.cond:
                    while not self.queue and self.closing is None:
                        self.cond.wait()
                    if not self.queue:
                        break
                    self.current = request = self.queue.popleft()
                try:
                    self._run(request)
                finally:
                    with self.cond:
                        self.current = None
        except Exception:  # a bug here must not take the engine down
            log.exception("session %d worker failed", self.id)
        finally:
            self._cleanup()

    def _reply(self, msg: Message) -> None:
        self._post(msg)

    def _fail(self, request: Request, code: int, message: str) -> None:
        fields = {"code": int(code), "message": message, "session": self.id}
        self._reply(Message(Kind.ERROR, request.rid, fields))

    def _run(self, request: Request) -> None:
        if request.aborted:
            self._fail(request, *request.reason)
            return
        gen = None
        try:
            needed = self.plan(request.start, request.stop)
            if not isinstance(needed, range) or needed.step != 1 or needed.start < 0 \
                    or needed.stop > self.spec.frames:
                raise ValueError(f"sources_needed returned {needed!r}")
            self.pool.begin(request, needed)
            progress = self._progress_fn(request)
            with self.baton.turn():
                gen = self._rsession.render(request.start, request.stop, self.pool.get, progress,
                                           lambda: request.aborted)
            count, last = 0, request.start - 1
            while True:
                with self.baton.turn():
                    request.check()
                    item = next(gen, _END)
                if item is _END:
                    break
                index, frame = item
                if not isinstance(index, int) or not last < index < request.stop:
                    raise ValueError(f"renderer yielded frame {index!r} after {last} (request "
                                     f"{request.start}..{request.stop - 1})")
                self._emit(request, index, frame)
                count, last = count + 1, index
            request.check()  # a renderer that stopped early because cancelled() said so
            if count != request.stop - request.start:
                raise ValueError(f"renderer produced {count} of {request.stop - request.start} frames")
            self._reply(Message(Kind.DONE, request.rid, {"session": self.id, "frames": count}))
        except RequestAborted as e:
            self._fail(request, e.code, str(e))
        except Exception as e:
            log.exception("render failed (session %d, frames %d..%d)", self.id, request.start,
                          request.stop - 1)
            self._fail(request, Code.RENDER_FAILED, f"{type(e).__name__}: {e}")
        finally:
            if gen is not None:
                with self.baton.turn():
                    try:
                        gen.close()
                    except Exception:
                        log.exception("renderer failed while closing a render")
            self.pool.end()

    def _progress_fn(self, request: Request) -> Callable[[int, int], None]:
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] < PROGRESS_INTERVAL and done < total:
                return
            last[0] = now
            self._reply(Message(Kind.PROGRESS, request.rid, {
                "session": self.id, "done": max(0, int(done)), "total": max(0, int(total))}))

        return progress

    def _emit(self, request: Request, index: int, frame: Any) -> None:
        fmt = self.out_fmt
        want = (fmt.height, fmt.width, fmt.channels)
        if not callable(frame):
            frame = np.asarray(frame)
            if frame.shape != want:
                raise ValueError(f"renderer yielded a frame of shape {frame.shape}, expected {want}")
        seq = self._next_seq()
        if self.arena is None:  # inline: the bytes go out in the message (sent before we go on)
            data = np.empty(fmt.shape, fmt.np_dtype)
            self._write(data.transpose(1, 2, 0) if fmt.layout == "planar" else data, frame)
            fields = {"session": self.id, "frame": index, "seq": seq, "data": memoryview(data).cast("B")}
            self._post(Message(Kind.FRAME_READY, request.rid, fields), wait=True)
            return
        slot = self._take_out_slot(request)
        view = self.arena.view(slot)
        try:
            self._write(view.transpose(1, 2, 0) if fmt.layout == "planar" else view, frame)
        except BaseException:
            with self.cond:
                self.out_free.append(slot)
            raise
        del view
        self.arena.stamp(slot, seq, index)
        with self.cond:
            self.out_held[slot] = seq
        self._reply(Message(Kind.FRAME_READY, request.rid, {"session": self.id, "frame": index, "seq": seq,
                                                            "slot": slot}))

    @staticmethod
    def _write(target: np.ndarray, frame: Any) -> None:
        """The one copy on this side: the renderer's frame into the output buffer (H, W, C view)."""
        if callable(frame):
            frame(target)
            return
        try:
            np.copyto(target, frame, casting="same_kind")
        except TypeError as e:
            raise ValueError(f"renderer yielded {frame.dtype} frames for a {target.dtype} clip") from e

    def _take_out_slot(self, request: Request) -> int:
        with self.cond:
            while not self.out_free:
                request.check()
                self.cond.wait(0.5)
            request.check()
            return self.out_free.popleft()

    def _ask_source(self, entry: Entry) -> None:
        request = self.pool.request
        fields = {"session": self.id, "frame": entry.frame, "seq": entry.seq}
        if self.arena is not None:
            fields["slot"] = entry.slot
        self._reply(Message(Kind.NEED_SOURCE, request.rid if request is not None else 0, fields))

    def _cleanup(self) -> None:
        with self.cond:
            leftovers, self.queue = list(self.queue), deque()
        for request in leftovers:
            self._fail(request, *(request.reason or self.closing or (Code.CANCELLED, "session closed")))
        try:
            with self.baton.turn():
                self._rsession.close()
        except Exception:
            log.exception("renderer failed while closing session %d", self.id)
        self.pool.clear()
        if self.arena is not None:
            self.arena.destroy()
        self._on_end(self)
        if self.close_rid is not None:
            self._reply(Message(Kind.CLOSED, self.close_rid, {"session": self.id}))
