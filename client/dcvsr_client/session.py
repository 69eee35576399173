"""One clip open in the engine: requesting frames, supplying the source frames the engine asks for.

Pixels are copied once on this side in each direction: a source frame from the
caller's array (or the caller's own writer) into the engine's slot, an output
frame from the engine's slot into the caller's array (or the caller's sink).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np
from dcvsr_protocol import Code, Kind, Message
from dcvsr_protocol.errors import EngineError, ProtocolError
from dcvsr_protocol.slot import DTYPES, PixelFormat, SlotError, pixels, read_header, stamp
from dcvsr_protocol.transport import shm


class Link(Protocol):
    """What a session needs of the connection it was opened on (a Client is one)."""

    lock: Any  # held while a request and its replies are in flight
    closed: bool
    rendering: bool  # a render's messages are being read: no other request may start

    def new_request(self) -> int: ...
    def send(self, msg: Message) -> None: ...
    def recv(self) -> Message: ...
    def call(self, msg: Message, expect: Kind) -> Message: ...
    def raise_error(self, msg: Message) -> None: ...
    def forget(self, session_id: int) -> None: ...

SourceFn = Callable[[int], Any]  # frame index -> array in the session's layout shape
SourceIntoFn = Callable[[int, np.ndarray], None]  # writes frame `index` into the given view
SinkFn = Callable[[int, np.ndarray], Any]  # gets a read-only view, valid only during the call
ProgressFn = Callable[[int, int], None]


class Session:
    def __init__(self, client: Link, opened: Message, spec: dict[str, Any]) -> None:
        self.client = client
        self.id: int = opened["session"]
        self.frames: int = spec["frames"]
        self.source_format = PixelFormat(spec["width"], spec["height"], spec["dtype"], spec["channels"],
                                         spec["layout"])
        self.out_format = self.source_format.scaled(opened["out_width"], opened["out_height"])
        self.transport: str = opened["transport"]
        self._shm = None
        self._buf: memoryview | None = None
        self._slots: list[tuple[int, int]] = []  # (offset, size) per slot
        self._out_slots: int = opened["out_slots"]
        if self.transport == "shm":
            self._attach(opened)
        elif self.transport != "inline":
            raise ProtocolError(f"engine chose an unknown transport {self.transport!r}")

    @property
    def inline_payload(self) -> int:
        """The largest payload this session's messages may carry."""
        if self.transport != "inline":
            return 0
        return max(self.source_format.nbytes, self.out_format.nbytes) + 4096

    def _attach(self, opened: Message) -> None:
        offsets, size = list(opened["slots"]), opened["segment_size"]
        if not offsets or offsets != sorted(offsets) or offsets[-1] >= size:
            raise ProtocolError("engine sent an invalid slot table")
        self._shm = shm.attach(opened["segment"])
        if self._shm.size < size:
            self.detach()
            raise ProtocolError(f"segment {opened['segment']} is smaller than announced")
        self._buf = self._shm.buf
        ends = [*offsets[1:], size]
        self._slots = [(o, e - o) for o, e in zip(offsets, ends, strict=True)]

    # -- requests -----------------------------------------------------------------------------
    def plan(self, start: int, stop: int) -> range:
        """The source frames a request for output frames start..stop-1 will ask for."""
        fields = {"session": self.id, "start": start, "stop": stop}
        reply = self.client.call(Message(Kind.PLAN, fields=fields), expect=Kind.PLAN_REPLY)
        return range(reply["start"], reply["stop"])

    def render(self, start: int, stop: int, source: SourceFn | None = None, *,
               source_into: SourceIntoFn | None = None,
               progress: ProgressFn | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Output frames start..stop-1 as (index, array) in the session's layout shape.

        The engine asks for the source frames it needs: source(index) returns one as an array of
        the source format's shape (other float/int dtypes are converted), or source_into(index,
        view) writes it into the slot directly. Breaking out of the loop cancels the rest.
        """
        def copy(index: int, view: np.ndarray) -> tuple[int, np.ndarray]:
            # An inline frame already lies in a buffer of its own; a slot's pixels must be copied out.
            return index, view if self.transport == "inline" else np.array(view)

        yield from self._run(start, stop, copy, source, source_into, progress)

    def render_into(self, start: int, stop: int, sink: SinkFn, source: SourceFn | None = None, *,
                    source_into: SourceIntoFn | None = None, progress: ProgressFn | None = None) -> int:
        """Like render, but hands each frame to sink(index, view) instead of copying it; returns the count."""
        count = 0
        for _ in self._run(start, stop, sink, source, source_into, progress):
            count += 1
        return count

    def frame(self, index: int, source: SourceFn) -> np.ndarray:
        """One output frame."""
        for _i, array in self.render(index, index + 1, source):
            return array
        raise ProtocolError("the engine finished without sending the frame")

    def _run(self, start: int, stop: int, deliver: SinkFn, source: SourceFn | None,
             source_into: SourceIntoFn | None, progress: ProgressFn | None) -> Iterator[Any]:
        if (source is None) == (source_into is None):
            raise TypeError("give exactly one of source and source_into")
        c = self.client
        with c.lock:
            if c.rendering:
                raise RuntimeError("a Client runs one render at a time (finish or close the other one first, "
                                   "or use a second Client)")
            rid = c.new_request()
            c.send(Message(Kind.RENDER, rid, {"session": self.id, "start": start, "stop": stop}))
            finished = False
            c.rendering = True
            try:
                while True:
                    msg = c.recv()
                    if msg.request != rid:
                        self._stray(msg)
                        continue
                    if msg.kind == Kind.FRAME_READY:
                        yield self._receive(rid, msg, deliver)
                    elif msg.kind == Kind.NEED_SOURCE:
                        self._supply(rid, msg, source, source_into)
                    elif msg.kind == Kind.PROGRESS:
                        if progress is not None:
                            progress(msg["done"], msg["total"])
                    elif msg.kind == Kind.DONE:
                        finished = True
                        return
                    elif msg.kind == Kind.ERROR:
                        finished = True
                        c.raise_error(msg)
                    else:
                        raise ProtocolError(f"unexpected {msg.kind.name} during a render")
            finally:
                try:
                    if not finished and not c.closed:
                        self._cancel(rid)
                finally:
                    c.rendering = False

    def _cancel(self, rid: int) -> None:
        """Cancel a render we are abandoning and read up to its end, returning any slots it handed us."""
        c = self.client
        c.send(Message(Kind.CANCEL, rid, {"session": self.id}))
        while True:
            msg = c.recv()
            if msg.request != rid:
                self._stray(msg)
            elif msg.kind == Kind.FRAME_READY:
                self._release(rid, msg)
            elif msg.kind in (Kind.DONE, Kind.ERROR):
                return

    def _stray(self, msg: Message) -> None:
        if msg.kind == Kind.ERROR and msg.request == 0:
            self.client.raise_error(msg)
        if msg.kind == Kind.FRAME_READY and msg.get("session") == self.id:
            self._release(msg.request, msg)

    def _slot(self, msg: Message, output: bool) -> tuple[int, int]:
        number = msg.get("slot")
        if number is None or number >= len(self._slots) or (number < self._out_slots) != output:
            raise ProtocolError(f"engine named an invalid slot {number}")
        return self._slots[number]

    def _release(self, rid: int, msg: Message) -> None:
        if self.transport == "shm" and msg.get("slot") is not None:
            self.client.send(Message(Kind.RELEASE, rid, {"session": self.id, "slot": msg["slot"],
                                                         "seq": msg["seq"]}))

    def _receive(self, rid: int, msg: Message, deliver: SinkFn) -> Any:
        index, seq = msg["frame"], msg["seq"]
        if self.transport == "inline":
            data = msg.get("data")
            fmt = self.out_format
            if data is None or len(data) != fmt.nbytes:
                raise ProtocolError("inline frame of the wrong size")
            view = np.frombuffer(data, dtype=fmt.np_dtype).reshape(fmt.shape)
            return deliver(index, view)
        offset, size = self._slot(msg, output=True)
        try:
            header = read_header(self._buf, offset)
            if header.sequence != seq or header.frame != index or header.format() != self.out_format:
                raise SlotError(f"slot header (seq {header.sequence}, frame {header.frame}) does not match "
                                f"the message (seq {seq}, frame {index})")
            view = pixels(self._buf, offset, header, size)
        except SlotError as e:
            raise ProtocolError(f"output slot check failed: {e}") from e
        view.flags.writeable = False
        result = deliver(index, view)
        del view
        if read_header(self._buf, offset).sequence != seq:  # reused while we read: a bug, never silent
            raise ProtocolError("the engine reused an output slot before it was released")
        self._release(rid, msg)
        return result

    def _supply(self, rid: int, msg: Message, source: SourceFn | None,
                source_into: SourceIntoFn | None) -> None:
        index, seq = msg["frame"], msg["seq"]
        if not 0 <= index < self.frames:
            raise ProtocolError(f"engine asked for source frame {index} of a {self.frames}-frame clip")
        fmt = self.source_format
        if self.transport == "inline":
            if source_into is not None:
                array = np.empty(fmt.shape, fmt.np_dtype)
                source_into(index, array)
            else:
                array = _as_frame(source(index), fmt)
            self.client.send(Message(Kind.SOURCE_READY, rid, {
                "session": self.id, "frame": index, "seq": seq, "data": memoryview(array).cast("B")}))
            return
        offset, size = self._slot(msg, output=False)
        try:
            header = read_header(self._buf, offset)
            if header.format() != fmt:
                raise SlotError("source slot format differs from the session's")
            view = pixels(self._buf, offset, header, size)
        except SlotError as e:
            raise ProtocolError(f"source slot check failed: {e}") from e
        if source_into is not None:
            source_into(index, view)
        else:
            frame = np.asarray(source(index))
            if frame.shape != view.shape:
                raise ValueError(f"source frame {index} has shape {frame.shape}; the session expects "
                                 f"{view.shape} ({fmt.layout})")
            np.copyto(view, frame, casting="same_kind")
        del view
        stamp(self._buf, offset, sequence=seq, frame=index)
        self.client.send(Message(Kind.SOURCE_READY, rid, {"session": self.id, "frame": index, "seq": seq,
                                                          "slot": msg["slot"]}))

    # -- closing ------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the session in the engine (cancelling its work) and unmap its slots."""
        try:
            if not self.client.closed:
                self.client.call(Message(Kind.CLOSE, fields={"session": self.id}), expect=Kind.CLOSED)
        except EngineError as e:
            if e.code != Code.UNKNOWN_SESSION:
                raise
        finally:
            self.detach()
            self.client.forget(self.id)

    def detach(self) -> None:
        """Unmap without telling the engine (it frees the slots when the connection ends)."""
        self._buf = None
        if self._shm is not None:
            shm.close_quietly(self._shm)
            self._shm = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _as_frame(frame: Any, fmt: PixelFormat) -> np.ndarray:
    array = np.asarray(frame)
    if array.shape != fmt.shape:
        raise ValueError(f"source frame has shape {array.shape}; the session expects {fmt.shape} "
                         f"({fmt.layout})")
    return np.ascontiguousarray(array.astype(DTYPES[fmt.dtype][1], copy=False))
