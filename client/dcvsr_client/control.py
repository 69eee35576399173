"""The engine seen from outside: start one in the background, ask its status, stop it.

What `dcvsr serve --detach`, `dcvsr status` and `dcvsr stop` do, as functions; they only talk to an
engine (or start its process), so they live with the client. Running an engine in this process is
dcvsr_engine.server.control.serve.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from dcvsr_protocol.errors import EngineStartError
from dcvsr_protocol.paths import engine_dir, socket_path

from .autostart import DEFAULT_START_TIMEOUT, can_connect, start_engine
from .client import Client


def serve_detached(renderer: str, *, socket: str | os.PathLike | None = None,
                   runtime_dir: str | os.PathLike | None = None, model: str | None = None,
                   timeout: float = DEFAULT_START_TIMEOUT) -> int:
    """Start an engine in the background with this renderer ('module:attribute'); its pid, or 0
    if one was running already."""
    directory = engine_dir(socket, runtime_dir)
    cmd = [sys.executable, "-m", "dcvsr_engine.server", "serve", "--runtime-dir", os.fspath(directory),
           "--renderer", renderer]
    if socket is not None:
        cmd += ["--socket", os.fspath(socket)]
    if model is not None:
        cmd += ["--model", model]
    return start_engine(directory, timeout, command=cmd) or 0


def status(runtime_dir: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The running engine's status, or None if none runs (never starts one)."""
    try:
        with Client.connect(runtime_dir, autostart=False, timeout=10) as client:
            return client.status()
    except EngineStartError:
        return None


def stop(runtime_dir: str | os.PathLike | None = None, timeout: float = 10.0) -> bool:
    """Stop the running engine; False if none was running."""
    try:
        client = Client.connect(runtime_dir, autostart=False, timeout=10)
    except EngineStartError:
        return False
    directory = client.directory
    client.stop()
    return wait_gone(directory, timeout)


def wait_gone(directory: Path, timeout: float = 10.0) -> bool:
    """After stop(): wait until the socket no longer accepts connections."""
    deadline = time.monotonic() + timeout
    path = socket_path(directory)
    while time.monotonic() < deadline:
        if not can_connect(path):
            return True
        time.sleep(0.05)
    return False
