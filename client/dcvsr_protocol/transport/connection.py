"""Whole messages over a stream socket: one sendmsg per message, exact reads with recv_into."""

from __future__ import annotations

import socket
import threading

from .. import messages
from ..framing import HEADER_SIZE, Header, unpack_header


class ConnectionClosed(ConnectionError):
    """The peer closed the connection (possibly in the middle of a message)."""


def recv_exact(sock: socket.socket, n: int) -> memoryview:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ConnectionClosed("connection closed" if got == 0 else "connection closed mid-message")
        got += k
    return view


def read_raw(sock: socket.socket, max_payload: int) -> tuple[Header, memoryview]:
    """One header and its payload. Raises FramingError (bad magic or length) or ConnectionClosed."""
    from ..framing import FramingError

    header = unpack_header(recv_exact(sock, HEADER_SIZE))
    if header.length > max_payload:
        raise FramingError(f"payload of {header.length} bytes exceeds the limit of {max_payload}")
    payload = recv_exact(sock, header.length) if header.length else memoryview(b"")
    return header, payload


def _sendmsg_all(sock: socket.socket, parts: list) -> None:
    views = [memoryview(p).cast("B") for p in parts]
    while views:
        sent = sock.sendmsg(views[:64])
        while sent:
            if sent >= views[0].nbytes:
                sent -= views[0].nbytes
                views.pop(0)
            else:
                views[0] = views[0][sent:]
                sent = 0
        while views and views[0].nbytes == 0:
            views.pop(0)


class Sender:
    """Serialises whole messages from several threads onto one socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()

    def send(self, msg: messages.Message) -> None:
        parts = messages.encode_parts(msg)
        with self.lock:
            _sendmsg_all(self.sock, parts)
