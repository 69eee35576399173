"""One client connection: a reader thread that checks and dispatches messages, a writer thread.

Nothing a client sends can crash the engine or touch another connection's
sessions: an undecodable payload or a bad field gets an ERROR reply and the
connection goes on; a header that cannot be trusted (bad magic, version,
oversize length) or a failed handshake gets an ERROR and the connection is
closed. Session ids are looked up only among this connection's sessions.
"""

from __future__ import annotations

import hmac
import logging
import os
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any, Protocol

from dcvsr_protocol import FATAL, HEADER_SIZE, Code, Kind, Message, PixelFormat, SlotError, checks
from dcvsr_protocol.colour import ColourTags
from dcvsr_protocol.errors import SettingsError
from dcvsr_protocol.framing import MAX_CONTROL_PAYLOAD, SUPPORTED_VERSIONS, VERSION
from dcvsr_protocol.slot import CHANNELS, DTYPES, LAYOUTS
from dcvsr_protocol.transport.connection import ConnectionClosed, Sender, recv_exact

from .renderer import ClipSpec
from .session import Post, ServerSession

log = logging.getLogger("dcvsr.server")

HANDSHAKE_TIMEOUT = 10.0
MAX_SIDE = 1 << 16
MAX_FRAMES = 1 << 31
MAX_SLOTS = 16
MAX_OPENING = 4  # OPENs being handled at once per connection
MAX_QUEUED = 64  # RENDER requests waiting per session
MAX_UNSENT = 4096  # replies a client has not read yet: beyond this it is not reading, and is dropped
MAX_CLIP_ID = 1024
INLINE_LIMIT = 1 << 30  # the largest inline frame (bytes): bounds what one message may allocate


class RequestError(Exception):
    """A request this connection refuses, with the code for the ERROR reply."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def peer_uid(sock: socket.socket) -> int | None:
    """The connecting process's uid where the platform tells it (Linux)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


class EngineSide(Protocol):
    """What a connection needs of the engine that accepted it (the Engine is one)."""

    token: str
    max_session_bytes: int

    @property
    def version_string(self) -> str: ...
    def status(self) -> dict[str, Any]: ...
    def request_shutdown(self) -> None: ...
    def open_session(self, spec: ClipSpec, src_fmt: PixelFormat, transport: str, n_out: int, post: Post,
                     on_end: Callable[[ServerSession], None]) -> ServerSession: ...
    def forget_connection(self, conn: Connection) -> None: ...


class Connection:
    def __init__(self, engine: EngineSide, sock: socket.socket, cid: int) -> None:
        self.engine = engine
        self.sock = sock
        self.id = cid
        self.sender = Sender(sock)
        self.authed = False
        self.closed = False  # the writer has finished: nothing more goes out
        self._torn = False
        self.sessions: dict[int, ServerSession] = {}
        self.lock = threading.Lock()
        self._out: deque[tuple[Message, threading.Event | None]] = deque()
        self._out_cond = threading.Condition()
        self._opening = threading.BoundedSemaphore(MAX_OPENING)
        self.reader = threading.Thread(target=self._read_loop, name=f"dcvsr-conn-{cid}-read", daemon=True)
        self.writer = threading.Thread(target=self._write_loop, name=f"dcvsr-conn-{cid}-write", daemon=True)

    def start(self) -> None:
        self.writer.start()
        self.reader.start()

    # -- sending ------------------------------------------------------------------------------
    def post(self, msg: Message, wait: bool = False) -> bool:
        """Queue a message for the writer; wait=True returns once it was sent (or could not be)."""
        done = threading.Event() if wait else None
        with self._out_cond:
            if self.closed:
                return False
            if len(self._out) >= MAX_UNSENT:
                log.warning("connection %d does not read its replies: closing it", self.id)
                self._shutdown_socket()
                return False
            self._out.append((msg, done))
            self._out_cond.notify()
        if done is not None:
            done.wait()
        return True

    def error(self, rid: int, code: int, message: str, session: int | None = None) -> None:
        fields = {"code": int(code), "message": message}
        if session is not None:
            fields["session"] = session
        self.post(Message(Kind.ERROR, rid, fields))

    def _write_loop(self) -> None:
        broken = False
        while True:
            with self._out_cond:
                while not self._out and not self.closed:
                    self._out_cond.wait()
                if not self._out:
                    return
                msg, done = self._out.popleft()
            try:
                if not broken:
                    self.sender.send(msg)
            except OSError:
                broken = True  # the reader sees the end of the connection and tears it down
                self._shutdown_socket()
            finally:
                if done is not None:
                    done.set()

    def _shutdown_socket(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- reading ------------------------------------------------------------------------------
    @property
    def max_payload(self) -> int:
        with self.lock:
            inline = [s.src_fmt.nbytes + 4096 for s in self.sessions.values() if s.arena is None]
        return max([MAX_CONTROL_PAYLOAD, *inline])

    def _read_loop(self) -> None:
        try:
            self.sock.settimeout(HANDSHAKE_TIMEOUT)
            while not self.closed:
                rid = 0
                try:
                    header = checks.read_header(recv_exact(self.sock, HEADER_SIZE))
                    rid = header.request
                    checks.check_header(header, self.max_payload)
                    payload = recv_exact(self.sock, header.length) if header.length else memoryview(b"")
                    msg = checks.check_payload(header, payload)
                    del payload
                    if not self.authed and msg.kind != Kind.HELLO:
                        raise checks.Violation(Code.UNAUTHORIZED, "the first message must be HELLO")
                    self._dispatch(msg)
                except (checks.Violation, RequestError) as e:
                    session = msg.get("session") if isinstance(e, RequestError) else None
                    self.error(rid, e.code, str(e), session)
                    if e.code in FATAL or not self.authed:  # before the handshake, one strike
                        return
                except (ConnectionClosed, TimeoutError, OSError):
                    return
                except Exception as e:  # a bug: answer it, keep serving
                    log.exception("error handling a message")
                    self.error(rid, Code.INTERNAL, f"{type(e).__name__}: {e}")
        finally:
            self.teardown()

    def teardown(self, code: int = Code.CANCELLED, message: str = "the client disconnected") -> None:
        """End the connection: abort and free its sessions, close the socket once sent out."""
        with self.lock:
            if self._torn:
                return
            self._torn = True
            sessions = list(self.sessions.values())
        for session in sessions:
            session.close(code, message)
        for session in sessions:
            session.worker.join(timeout=10)
        with self._out_cond:
            self.closed = True
            self._out_cond.notify_all()
        if threading.current_thread() is not self.writer:
            self.writer.join(timeout=5)
        self._shutdown_socket()
        self.sock.close()
        self.engine.forget_connection(self)

    # -- dispatch -----------------------------------------------------------------------------
    def _session(self, msg: Message) -> ServerSession:
        with self.lock:
            session = self.sessions.get(msg["session"])
        if session is None:
            raise RequestError(Code.UNKNOWN_SESSION, f"no session {msg['session']} on this connection")
        return session

    def _dispatch(self, msg: Message) -> None:
        kind, rid = msg.kind, msg.request
        if kind == Kind.HELLO:
            self._hello(msg)
        elif kind == Kind.OPEN:
            # Opening may load a model: do it aside, so this connection's other messages keep flowing.
            if not self._opening.acquire(blocking=False):
                raise RequestError(Code.LIMIT, f"more than {MAX_OPENING} OPENs at once")
            threading.Thread(target=self._open, args=(msg,), name=f"dcvsr-open-{rid}", daemon=True).start()
        elif kind == Kind.RENDER:
            session = self._session(msg)
            if not 0 <= msg["start"] < msg["stop"] <= session.spec.frames:
                raise RequestError(Code.BAD_RANGE, f"frames {msg['start']}..{msg['stop'] - 1} are not inside "
                                                   f"the clip's 0..{session.spec.frames - 1}")
            if not session.submit(rid, msg["start"], msg["stop"], MAX_QUEUED):
                raise RequestError(Code.LIMIT, f"more than {MAX_QUEUED} requests queued in this session")
        elif kind == Kind.SOURCE_READY:
            session = self._session(msg)
            try:
                session.deliver(msg["frame"], msg["seq"], msg.get("slot"), msg.get("data"))
            except SlotError as e:
                raise RequestError(Code.BAD_SLOT, str(e)) from None
        elif kind == Kind.RELEASE:
            try:
                self._session(msg).release(msg["slot"], msg["seq"])
            except SlotError as e:
                raise RequestError(Code.BAD_SLOT, str(e)) from None
        elif kind == Kind.CANCEL:
            self._session(msg).cancel(rid)  # an unknown request has ended already: nothing to do
        elif kind == Kind.CLOSE:
            self._session(msg).close(Code.CANCELLED, "the session was closed", rid)
        elif kind == Kind.PLAN:
            session = self._session(msg)
            if not 0 <= msg["start"] < msg["stop"] <= session.spec.frames:
                raise RequestError(Code.BAD_RANGE, "range outside the clip")
            needed = session.plan(msg["start"], msg["stop"])
            self.post(Message(Kind.PLAN_REPLY, rid, {"session": session.id, "start": needed.start,
                                                     "stop": needed.stop}))
        elif kind == Kind.STATUS:
            self.post(Message(Kind.STATUS_REPLY, rid, self.engine.status()))
        elif kind == Kind.STOP:
            self.post(Message(Kind.STOPPING, rid), wait=True)
            self.engine.request_shutdown()

    def _hello(self, msg: Message) -> None:
        if self.authed:
            raise RequestError(Code.UNEXPECTED, "HELLO was already received")
        if VERSION not in msg["versions"]:
            raise RequestError(Code.BAD_VERSION,
                               f"no common protocol version (engine: {list(SUPPORTED_VERSIONS)})")
        uid = peer_uid(self.sock)
        if uid is not None and uid != os.getuid():
            raise RequestError(Code.UNAUTHORIZED, "the engine serves only its own user")
        if not hmac.compare_digest(msg["token"].encode(), self.engine.token.encode()):
            raise RequestError(Code.UNAUTHORIZED,
                               "wrong token (read it from the runtime directory's token file)")
        self.authed = True
        self.sock.settimeout(None)
        self.post(Message(Kind.WELCOME, msg.request, {
            "version": VERSION, "engine": self.engine.version_string, "pid": os.getpid(),
            "caps": ["shm", "inline"], "max_payload": MAX_CONTROL_PAYLOAD}))

    # -- opening a session --------------------------------------------------------------------
    def _open(self, msg: Message) -> None:
        try:
            self._open_session(msg)
        finally:
            self._opening.release()

    def _open_session(self, msg: Message) -> None:
        try:
            spec, src_fmt = self._clip_spec(msg)
            transport = msg["transport"]
            if transport not in ("shm", "inline"):
                raise RequestError(Code.BAD_CLIP, f"unknown transport {transport!r} (shm or inline)")
            if transport == "inline" and src_fmt.nbytes > min(INLINE_LIMIT, self.engine.max_session_bytes):
                raise RequestError(Code.LIMIT, "frames too large for the inline transport")
            n_out = msg.get("out_slots", 3)
            if not 1 <= n_out <= MAX_SLOTS:
                raise RequestError(Code.BAD_CLIP, f"out_slots must be 1..{MAX_SLOTS}")
            session = self.engine.open_session(spec, src_fmt, transport, n_out, self.post,
                                               self.remove_session)
            try:
                self.add_session(session)
            except RequestError:
                session.close(Code.CANCELLED, "connection closed")
                raise
        except RequestError as e:
            self.error(msg.request, e.code, str(e))
            return
        except SettingsError as e:
            self.error(msg.request, Code.BAD_SETTINGS, str(e))
            return
        except Exception as e:
            log.exception("OPEN failed")
            self.error(msg.request, Code.INTERNAL, f"{type(e).__name__}: {e}")
            return
        arena = session.arena
        self.post(Message(Kind.OPENED, msg.request, {
            "session": session.id, "out_width": session.out_fmt.width, "out_height": session.out_fmt.height,
            "transport": transport, "segment": arena.name if arena else "",
            "segment_size": arena.size if arena else 0, "slots": arena.offsets if arena else [],
            "out_slots": arena.n_out if arena else 0}))

    @staticmethod
    def _clip_spec(msg: Message) -> tuple[ClipSpec, PixelFormat]:
        def bad(text: str) -> RequestError:
            return RequestError(Code.BAD_CLIP, text)

        width, height, frames = msg["width"], msg["height"], msg["frames"]
        if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
            raise bad(f"frame size {width}x{height} must be 1..{MAX_SIDE} each way")
        if not 1 <= frames <= MAX_FRAMES:
            raise bad(f"frame count {frames} out of range")
        if msg["fps_num"] <= 0 or msg["fps_den"] <= 0:
            raise bad("frame rate must be positive")
        if msg["dtype"] not in DTYPES or msg["channels"] not in CHANNELS or msg["layout"] not in LAYOUTS:
            raise bad(f"pixel format must be dtype in {list(DTYPES)}, channels in {list(CHANNELS)}, "
                      f"layout in {list(LAYOUTS)}")
        if any(msg[k] > 255 for k in ("matrix", "transfer", "primaries", "range")) or msg["range"] > 1:
            raise bad("colour tags must be H.273 code points (0..255; range 0 or 1)")
        cuts = tuple(msg["cuts"])
        if any(not 0 < c < frames for c in cuts) or list(cuts) != sorted(set(cuts)):
            raise bad("cuts must be ascending, unique frame numbers inside the clip (not 0)")
        if len(msg["clip"].encode()) > MAX_CLIP_ID:
            raise bad("clip identity too long")
        spec = ClipSpec(clip=msg["clip"], width=width, height=height, frames=frames,
                        fps=Fraction(msg["fps_num"], msg["fps_den"]), dtype=msg["dtype"],
                        channels=msg["channels"],
                        colour=ColourTags.from_fields(msg.fields),
                        settings=dict(msg["settings"]), cuts=cuts)
        return spec, PixelFormat(width, height, msg["dtype"], msg["channels"], msg["layout"])

    def add_session(self, session: ServerSession) -> None:
        with self.lock:
            if self._torn:
                raise RequestError(Code.CANCELLED, "connection closed")
            self.sessions[session.id] = session

    def remove_session(self, session: ServerSession) -> None:
        with self.lock:
            self.sessions.pop(session.id, None)
