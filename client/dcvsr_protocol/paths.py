"""The private per-user runtime directory and the files in it.

    engine.sock   the control socket
    token         a per-user secret checked at handshake (0600)
    engine.lock   held (flock) by the running engine for its whole life
    start.lock    held by a client while it starts an engine, so two clients start one
    engine.pid    the running engine's pid
    engine.log    a detached or auto-started engine's output
    shm.<pid>     names of the segments engine <pid> created (to clean up after a crash)
"""

from __future__ import annotations

import os
import secrets
import stat
import sys
import tempfile
from pathlib import Path

from .errors import DCVSRClientError

SOCKET_NAME = "engine.sock"
TOKEN_NAME = "token"
# sun_path holds 108 bytes on Linux, 104 on macOS (including the terminating NUL).
MAX_SOCKET_PATH = 103 if sys.platform == "darwin" else 107


class RuntimeDirError(DCVSRClientError):
    """The runtime directory is missing, not ours, or open to other users."""


def runtime_dir(create: bool = True) -> Path:
    """DCVSR_RUNTIME_DIR, else $XDG_RUNTIME_DIR/dcvsr, else a per-user folder in the temp dir."""
    env = os.environ.get("DCVSR_RUNTIME_DIR")
    if env:
        path = Path(env)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "dcvsr"
    else:
        path = Path(tempfile.gettempdir()) / f"dcvsr-{os.getuid()}"
    if create:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise RuntimeDirError(f"cannot create the runtime directory {path}: {e}") from e
    check_private(path)
    return path


def check_private(path: Path) -> None:
    """Refuse a directory another user could read or plant files in (e.g. one pre-made in /tmp)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise RuntimeDirError(f"runtime directory {path} is not a directory (a link?); remove it")
    if st.st_uid != os.getuid():
        raise RuntimeDirError(f"runtime directory {path} belongs to uid {st.st_uid}, not to you; "
                              "set DCVSR_RUNTIME_DIR to a private folder")
    if st.st_mode & 0o077:
        raise RuntimeDirError(f"runtime directory {path} is open to other users (mode "
                              f"{stat.S_IMODE(st.st_mode):o}); run: chmod 700 {path}")


def socket_path(directory: Path | None = None) -> Path:
    """DCVSR_SOCKET if set (an engine started with a socket of its own), else engine.sock in the directory."""
    path = Path(os.environ["DCVSR_SOCKET"]) if os.environ.get("DCVSR_SOCKET") else \
        (directory or runtime_dir()) / SOCKET_NAME
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise RuntimeDirError(f"socket path {path} is too long for a Unix socket; "
                              "set DCVSR_RUNTIME_DIR to a shorter folder")
    return path


def read_token(directory: Path | None = None, create: bool = False) -> str:
    """The per-user token; create=True makes one if there is none (the engine does)."""
    path = (directory or runtime_dir()) / TOKEN_NAME
    if create:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    try:
        st = os.stat(path)
        if st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise RuntimeDirError(f"token file {path} is not private to you; remove it")
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def engine_dir(socket: str | os.PathLike | None = None, directory: str | os.PathLike | None = None) -> Path:
    """The runtime folder an engine serves from: the one given (made private if new), else the
    folder of the socket given, else runtime_dir()."""
    if directory is not None:
        path = Path(directory)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path
    if socket is not None:
        return Path(socket).parent
    return runtime_dir()
