"""Starting the engine when none runs, so that two clients starting at once start one.

A client that cannot connect takes start.lock (flock), tries once more (another
client may just have started one), and otherwise runs the start command and
waits until the socket accepts connections.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from dcvsr_protocol.errors import EngineStartError
from dcvsr_protocol.paths import socket_path

DEFAULT_START_TIMEOUT = 60.0


def autostart_enabled() -> bool:
    return os.environ.get("DCVSR_AUTOSTART", "1").strip() not in ("0", "false", "no", "off")


def engine_command() -> list[str]:
    """DCVSR_ENGINE_CMD (split like a shell would), else this Python running dcvsr_engine.server."""
    cmd = os.environ.get("DCVSR_ENGINE_CMD", "").strip()
    return shlex.split(cmd) if cmd else [sys.executable, "-m", "dcvsr_engine.server"]


def can_connect(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(os.fspath(path))
            return True
        except OSError:
            return False


@contextlib.contextmanager
def _flock(path: Path, deadline: float) -> Iterator[None]:
    import fcntl  # POSIX only: imported here so that the package imports everywhere

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EngineStartError(f"timed out waiting for another client to start the engine "
                                           f"(lock {path})") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _log_tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:].strip()
    except OSError:
        return ""


def start_engine(directory: Path, timeout: float = DEFAULT_START_TIMEOUT,
                 command: list[str] | None = None) -> int | None:
    """Make sure an engine accepts connections on directory's socket, starting one if needed.

    Returns the pid of the engine started, or None if one was running already.
    """
    sock = socket_path(directory)
    deadline = time.monotonic() + timeout
    with _flock(directory / "start.lock", deadline):
        if can_connect(sock):
            return None
        cmd = command or engine_command()
        log_path = directory / "engine.log"
        env = dict(os.environ, DCVSR_RUNTIME_DIR=os.fspath(directory))
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                    start_new_session=True, close_fds=True)
        except OSError as e:
            raise EngineStartError(f"cannot run the engine command {cmd} (set DCVSR_ENGINE_CMD): {e}") from e
        finally:
            os.close(log)
        # Reap the child when it ends, so a dead engine does not linger as a zombie that looks alive.
        threading.Thread(target=proc.wait, name="dcvsr-engine-reaper", daemon=True).start()
        while True:
            if can_connect(sock):
                return proc.pid
            code = proc.poll()
            if code is not None:
                raise EngineStartError(f"the engine exited with status {code} while starting; "
                                       f"command {cmd}; log {log_path}:\n{_log_tail(log_path)}")
            if time.monotonic() > deadline:
                raise EngineStartError(f"the engine did not become ready within {timeout:g} s; "
                                       f"command {cmd}; log {log_path}:\n{_log_tail(log_path)}")
            time.sleep(0.05)
