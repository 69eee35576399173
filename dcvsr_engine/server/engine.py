"""The engine process: the listening socket, its connections, one renderer, shutdown.

Startup order: take the runtime directory's engine.lock (one engine per user
and directory), remove segments left by dead engines, make the token, bind
the socket; the renderer is created on a thread meanwhile, so clients can
connect (and learn that it is starting) at once.
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dcvsr_protocol import Code, Kind, Message, PixelFormat
from dcvsr_protocol.paths import read_token

from .. import __version__
from .arena import Arena
from .baton import Baton
from .cleanup import SegmentNames, remove_stale
from .connection import Connection, RequestError
from .renderer import ClipSpec, Renderer
from .session import Post, ServerSession

log = logging.getLogger("dcvsr.server")

DEFAULT_PREFETCH = 2  # source frames asked ahead of the renderer
DEFAULT_SOURCE_TIMEOUT = 120.0


class EngineRunning(RuntimeError):
    """Another engine holds this runtime directory."""


class Engine:
    def __init__(self, directory: Path, renderer_factory: Callable[[], Renderer],
                 socket_file: Path | None = None, *, prefetch: int = DEFAULT_PREFETCH,
                 source_timeout: float = DEFAULT_SOURCE_TIMEOUT, max_connections: int = 64,
                 max_sessions: int = 64, max_session_bytes: int | None = None) -> None:
        self.directory = directory
        self.socket_file = socket_file or directory / "engine.sock"
        self._factory = renderer_factory
        self.prefetch = max(1, prefetch)
        self.source_timeout = source_timeout
        self.max_connections = max_connections
        self.max_sessions = max_sessions
        self.max_session_bytes = max_session_bytes or int(os.environ.get("DCVSR_MAX_SESSION_BYTES", 1 << 34))
        self.baton = Baton()
        self.renderer: Renderer | None = None
        self.renderer_error: str | None = None
        self.renderer_ready = threading.Event()
        self.token = ""
        self.started = time.monotonic()
        self.connections: set[Connection] = set()
        self.open_sessions = 0  # counted for the limit; each connection holds its own sessions
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stop = threading.Event()
        self._lock_fd: int | None = None
        self.listener: socket.socket | None = None
        self.names: SegmentNames | None = None

    @property
    def version_string(self) -> str:
        name = self.renderer.name if self.renderer is not None else "starting"
        return f"dcvsr-engine {__version__} (renderer {name})"

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        fd = os.open(self.directory / "engine.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid_file = self.directory / "engine.pid"
            pid = pid_file.read_text().strip() if pid_file.exists() else "?"
            raise EngineRunning(f"an engine (pid {pid}) already serves {self.directory}") from None
        self._lock_fd = fd
        remove_stale(self.directory)
        self.names = SegmentNames(self.directory)
        self.token = read_token(self.directory, create=True)
        self.socket_file.unlink(missing_ok=True)  # a dead engine's: we hold the lock
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket file is created 0600
        try:
            listener.bind(os.fspath(self.socket_file))
        finally:
            os.umask(old_umask)
        listener.listen(64)
        listener.settimeout(0.2)  # so the accept loop notices a stop request
        self.listener = listener
        (self.directory / "engine.pid").write_text(f"{os.getpid()}\n")
        threading.Thread(target=self._make_renderer, name="dcvsr-renderer-init", daemon=True).start()
        log.info("dcvsr engine %s (pid %d) listening on %s", __version__, os.getpid(), self.socket_file)

    def _make_renderer(self) -> None:
        try:
            self.renderer = self._factory()
            log.info("renderer %s ready", self.renderer.name)
        except Exception as e:
            log.exception("the renderer could not be started")
            self.renderer_error = f"{type(e).__name__}: {e}"
        finally:
            self.renderer_ready.set()

    def serve_forever(self) -> None:
        assert self.listener is not None
        try:
            while not self._stop.is_set():
                try:
                    sock, _addr = self.listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stop.is_set():
                        break
                    log.exception("accept failed")
                    time.sleep(0.1)
                    continue
                self._accept(sock)
        finally:
            self.shutdown()

    def _accept(self, sock: socket.socket) -> None:
        with self.lock:
            full = len(self.connections) >= self.max_connections
            conn = None if full else Connection(self, sock, next(self._ids))
            if conn is not None:
                self.connections.add(conn)
        if conn is None:
            try:
                sock.settimeout(1.0)
                from dcvsr_protocol import encode
                sock.sendall(encode(Message(Kind.ERROR, 0, {"code": int(Code.LIMIT),
                                                            "message": "too many connections"})))
            except OSError:
                pass
            sock.close()
            return
        conn.start()

    def request_shutdown(self) -> None:
        self._stop.set()

    def shutdown(self) -> None:
        self._stop.set()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
            self.socket_file.unlink(missing_ok=True)
        with self.lock:
            connections = list(self.connections)
        for conn in connections:
            conn.teardown(Code.SHUTTING_DOWN, "the engine is stopping")
        if self.renderer is not None:
            try:
                self.renderer.close()
            except Exception:
                log.exception("renderer close failed")
        if self.names is not None:
            self.names.forget_all()
        (self.directory / "engine.pid").unlink(missing_ok=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        log.info("dcvsr engine stopped")

    # -- bookkeeping --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self.lock:
            connections, sessions = len(self.connections), self.open_sessions
        stats = {}
        if self.renderer is not None:
            renderer = self.renderer.name
            stats = self.renderer.stats()
        else:
            renderer = f"failed: {self.renderer_error}" if self.renderer_error else "starting"
        uptime = round(time.monotonic() - self.started, 3)
        return {"pid": os.getpid(), "version": __version__, "uptime": uptime,
                "connections": connections, "sessions": sessions, "renderer": renderer,
                "runtime_dir": os.fspath(self.directory), "stats": stats}

    def forget_connection(self, conn: Connection) -> None:
        with self.lock:
            self.connections.discard(conn)

    def _session_ended(self) -> None:
        with self.lock:
            self.open_sessions -= 1

    def open_session(self, spec: ClipSpec, src_fmt: PixelFormat, transport: str, n_out: int, post: Post,
                     on_end: Callable[[ServerSession], None]) -> ServerSession:
        """A new session for a connection: it replies through `post` and calls `on_end` when it ended."""
        self.renderer_ready.wait()
        if self.renderer is None:
            raise RequestError(Code.NOT_READY, f"the renderer could not be started: {self.renderer_error}")
        with self.lock:
            if self.open_sessions >= self.max_sessions:
                raise RequestError(Code.LIMIT, f"the engine already has {self.open_sessions} sessions open")
            sid = next(self._ids)
            self.open_sessions += 1  # reserves the place

        def ended(session: ServerSession) -> None:
            self._session_ended()
            on_end(session)

        try:
            with self.baton.turn():
                rsession = self.renderer.open(spec)
            out_w, out_h = (int(v) for v in rsession.out_size)
            if not (1 <= out_w <= 1 << 17 and 1 <= out_h <= 1 << 17):
                raise RequestError(Code.BAD_SETTINGS, f"output size {out_w}x{out_h} out of range")
            out_fmt = src_fmt.scaled(out_w, out_h)
            n_src = max(1, int(rsession.source_window)) + self.prefetch
            arena = None
            if transport == "shm":
                arena = self._make_arena(out_fmt, src_fmt, n_out, n_src, spec)
            return ServerSession(sid, spec, rsession, src_fmt, out_fmt, arena, n_out, n_src, self.baton,
                                 self.source_timeout, post, ended)
        except BaseException:
            self._session_ended()
            raise

    def _make_arena(self, out_fmt: PixelFormat, src_fmt: PixelFormat, n_out: int, n_src: int,
                    spec: ClipSpec) -> Arena:
        from dcvsr_protocol.slot import slot_size

        size = n_out * slot_size(out_fmt) + n_src * slot_size(src_fmt)
        if size > self.max_session_bytes:
            raise RequestError(Code.LIMIT, f"the session needs {size / 2**30:.1f} GiB of slots, more than "
                                           f"the limit of {self.max_session_bytes / 2**30:.1f} GiB")
        try:
            return Arena(self.names.new(), out_fmt, src_fmt, n_out, n_src, spec.colour)
        except MemoryError as e:
            raise RequestError(Code.LIMIT, str(e)) from None
