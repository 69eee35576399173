"""Where an engine listens: a Unix socket in the runtime folder, or loopback TCP with the token.

The transport is `DCVSR_TRANSPORT` ("unix" or "tcp"), else the first word of the runtime
folder's `transport` file, else "unix" where the platform has Unix sockets and "tcp" where it
has not (Windows). Over TCP the engine listens on 127.0.0.1 only, on a port the system picks (or
`DCVSR_PORT`), and writes it to the runtime folder's `engine.port`; the token is then the only
thing that proves the peer is the same user, and pixels travel inline in the messages.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from .errors import DCVSRClientError
from .paths import socket_path, write_private

TRANSPORTS = ("unix", "tcp")
TRANSPORT_NAME = "transport"
PORT_NAME = "engine.port"
LOOPBACK = "127.0.0.1"


class TransportError(DCVSRClientError):
    """The transport setting names no transport this client knows."""


def default_transport() -> str:
    return "unix" if hasattr(socket, "AF_UNIX") else "tcp"


def transport(directory: Path) -> str:
    """The transport this runtime folder uses (see the module's docstring)."""
    value, origin = os.environ.get("DCVSR_TRANSPORT", "").strip(), "DCVSR_TRANSPORT"
    if not value:
        try:
            words = (directory / TRANSPORT_NAME).read_text().split()
        except OSError:
            words = []
        value, origin = (words[0] if words else ""), os.fspath(directory / TRANSPORT_NAME)
    if not value:
        return default_transport()
    if value not in TRANSPORTS:
        raise TransportError(f"{origin} says transport {value!r}; use one of {', '.join(TRANSPORTS)}")
    if value == "unix" and not hasattr(socket, "AF_UNIX"):
        raise TransportError(f"{origin} says transport 'unix', which this platform lacks; use 'tcp'")
    return value


def read_port(directory: Path) -> int | None:
    try:
        port = int((directory / PORT_NAME).read_text().strip())
    except (OSError, ValueError):
        return None
    return port if 0 < port < 65536 else None


def write_port(directory: Path, port: int) -> None:
    """The engine's side: publish the port (a private file, renamed into place)."""
    write_private(directory / PORT_NAME, f"{port}\n")


def tcp_listener(port: int | None = None) -> socket.socket:
    """A listening socket on the loopback interface only."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if os.name != "nt":
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((LOOPBACK, port if port is not None else int(os.environ.get("DCVSR_PORT", "0") or 0)))
    listener.listen(64)
    return listener


def connect(directory: Path, timeout: float | None = None) -> socket.socket | None:
    """A connected socket to this folder's engine, or None if none listens."""
    if transport(directory) == "tcp":
        port = read_port(directory)
        if port is None:
            return None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        address: object = (LOOPBACK, port)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address = os.fspath(socket_path(directory))
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        return None
    return sock


def can_connect(directory: Path) -> bool:
    sock = connect(directory, timeout=1.0)
    if sock is None:
        return False
    sock.close()
    return True
