"""The connection to an engine: handshake, request/response plumbing, status and stop.

One Client is one connection; its requests run one at a time (a lock), so a
host that wants parallel requests opens several clients.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dcvsr_protocol import Code, Kind, Message, MessageError, decode_payload
from dcvsr_protocol.cbor import CBORError
from dcvsr_protocol.colour import ColourTags
from dcvsr_protocol.errors import EngineError, EngineGone, EngineStartError, ProtocolError
from dcvsr_protocol.framing import MAX_CONTROL_PAYLOAD, SUPPORTED_VERSIONS, FramingError
from dcvsr_protocol.paths import check_private, read_token, runtime_dir, socket_path
from dcvsr_protocol.transport.connection import ConnectionClosed, Sender, read_raw

from .autostart import autostart_enabled, start_engine
from .session import Session
from .version import __version__

DEFAULT_CONNECT_TIMEOUT = 60.0


class Client:
    """A connected, authenticated client. Use Client.connect(); close() or a with-block ends it."""

    def __init__(self, sock: socket.socket, directory: Path) -> None:
        self.sock = sock
        self.directory = directory
        self.sender = Sender(sock)
        self.lock = threading.RLock()
        self.engine_pid = 0
        self.engine_version = ""
        self.caps: list[str] = []
        self.max_payload = MAX_CONTROL_PAYLOAD  # grows while inline sessions are open
        self._next_request = 1
        self.closed = False
        self.rendering = False
        self._sessions: dict[int, Session] = {}

    # -- connecting -------------------------------------------------------------------------
    @classmethod
    def connect(cls, directory: str | os.PathLike | None = None, *, autostart: bool | None = None,
                timeout: float = DEFAULT_CONNECT_TIMEOUT, idle_timeout: float | None = 600.0) -> Client:
        """Connect to the user's engine, starting one if none runs (unless DCVSR_AUTOSTART=0).

        idle_timeout: seconds without any message from a busy engine before giving up (None: wait).
        """
        if directory is not None:
            directory = Path(directory)
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            check_private(directory)
        else:
            directory = runtime_dir()
        path = socket_path(directory)
        if autostart is None:
            autostart = autostart_enabled()
        for attempt in (0, 1):
            sock = cls._open_socket(path)
            if sock is None:
                if not autostart:
                    raise EngineStartError(f"no dcvsr engine is running (socket {path}) and "
                                           "DCVSR_AUTOSTART=0; start one with `dcvsr serve`")
                start_engine(directory, timeout)
                sock = cls._open_socket(path)
                if sock is None:
                    raise EngineStartError(f"the engine started but its socket {path} refuses connections")
            sock.settimeout(min(timeout, 30.0))
            client = cls(sock, directory)
            try:
                client._handshake()
            except EngineGone:
                # A dying engine can still accept into its listen backlog and then reset the
                # connection: once it is gone, the next attempt finds no listener (and starts one).
                sock.close()
                if attempt:
                    raise
                time.sleep(0.2)
                continue
            except BaseException:
                sock.close()
                raise
            sock.settimeout(idle_timeout)
            return client
        raise AssertionError("unreachable")

    @staticmethod
    def _open_socket(path: Path) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(os.fspath(path))
        except OSError:
            sock.close()
            return None
        return sock

    def _handshake(self) -> None:
        token = read_token(self.directory)
        reply = self.call(Message(Kind.HELLO, fields={
            "versions": list(SUPPORTED_VERSIONS), "token": token, "client": f"dcvsr_client {__version__}"}),
            expect=Kind.WELCOME)
        self.engine_pid = reply["pid"]
        self.engine_version = reply["engine"]
        self.caps = list(reply["caps"])

    # -- plumbing -----------------------------------------------------------------------------
    def new_request(self) -> int:
        with self.lock:
            rid = self._next_request
            self._next_request = rid % 0xFFFFFFFF + 1
            return rid

    def send(self, msg: Message) -> None:
        try:
            self.sender.send(msg)
        except OSError as e:
            raise self._gone(e) from e

    def _gone(self, cause: BaseException | str) -> EngineGone:
        self.closed = True
        return EngineGone(f"lost the connection to the dcvsr engine (pid {self.engine_pid or '?'}): {cause}. "
                          f"It may have crashed (see {self.directory / 'engine.log'}); "
                          "the next connection starts a new one.")

    def recv(self) -> Message:
        """The next message from the engine; raises EngineGone if the connection ends."""
        if self.closed:
            raise self._gone("the connection is closed")
        try:
            header, payload = read_raw(self.sock, self.max_payload)
            return decode_payload(header, payload)
        except ConnectionClosed as e:
            raise self._gone(e) from None
        except TimeoutError:
            raise self._gone("no message within the idle timeout") from None
        except OSError as e:
            raise self._gone(e) from None
        except (FramingError, CBORError, MessageError) as e:
            self.closed = True
            raise ProtocolError(f"the engine sent a message this client cannot read: {e}") from e

    @staticmethod
    def raise_error(msg: Message) -> None:
        code = msg["code"]
        try:
            name = Code(code).name
        except ValueError:
            name = str(code)
        raise EngineError(code, f"engine error {code} ({name}): {msg['message']}")

    def call(self, msg: Message, expect: Kind) -> Message:
        """Send a request and wait for its one reply (simple requests only: not RENDER)."""
        with self.lock:
            if self.rendering:
                raise RuntimeError("a render is running on this Client: finish it before other requests")
            msg.request = msg.request or self.new_request()
            self.send(msg)
            while True:
                reply = self.recv()
                if reply.kind == Kind.ERROR and reply.request in (msg.request, 0):
                    self.raise_error(reply)
                if reply.request == msg.request and reply.kind == expect:
                    return reply
                if reply.request != msg.request:
                    continue  # a late message of a request that ended (e.g. after a cancel)
                raise ProtocolError(f"expected {expect.name}, got {reply.kind.name}")

    # -- requests -----------------------------------------------------------------------------
    def open(self, clip: str, width: int, height: int, frames: int, *, fps: tuple[int, int] = (24, 1),
             dtype: str = "f16", channels: int = 3, layout: str = "interleaved",
             colour: ColourTags | None = None, settings: Mapping[str, Any] | None = None,
             cuts: Sequence[int] = (), transport: str = "shm", out_slots: int | None = None) -> Session:
        """Open a session for one clip. colour: its H.273 tags (unspecified, full range when not given)."""
        fields = {"clip": clip, "width": width, "height": height, "frames": frames, "fps_num": fps[0],
                  "fps_den": fps[1], "dtype": dtype, "channels": channels, "layout": layout,
                  **(colour or ColourTags()).as_fields(), "settings": dict(settings or {}),
                  "cuts": list(cuts), "transport": transport, "out_slots": out_slots}
        with self.lock:
            reply = self.call(Message(Kind.OPEN, fields=fields), expect=Kind.OPENED)
            session = Session(self, reply, fields)
            self._sessions[session.id] = session
            self._update_max_payload()
            return session

    def _update_max_payload(self) -> None:
        largest = max((s.inline_payload for s in self._sessions.values()), default=0)
        self.max_payload = max(MAX_CONTROL_PAYLOAD, largest)

    def forget(self, session_id: int) -> None:
        """A session closed: stop counting it (called by the Session)."""
        self._sessions.pop(session_id, None)
        self._update_max_payload()

    def status(self) -> dict[str, Any]:
        return dict(self.call(Message(Kind.STATUS), expect=Kind.STATUS_REPLY).fields)

    def stop(self) -> None:
        """Ask the engine to cancel everything and exit."""
        self.call(Message(Kind.STOP), expect=Kind.STOPPING)
        self.close()

    def close(self) -> None:
        with self.lock:
            for session in list(self._sessions.values()):
                session.detach()
            self._sessions.clear()
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

