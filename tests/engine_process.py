"""An engine in a child process with a private runtime folder: for tests, benchmarks and plugins' tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dcvsr_client
from dcvsr_client import Client
from dcvsr_client.autostart import can_connect
from dcvsr_protocol import endpoint

NOOP = "dcvsr_engine.server.noop:NoOpRenderer"
_ROOT = Path(__file__).resolve().parents[1]  # holds dcvsr_engine/ and tests/
_CLIENT_ROOT = Path(dcvsr_client.__file__).resolve().parents[1]  # holds dcvsr_client/


def child_env(directory: str | os.PathLike, **extra: str) -> dict[str, str]:
    """The environment for an engine or client child: this checkout importable, this runtime folder."""
    paths = [os.fspath(_ROOT), os.fspath(_CLIENT_ROOT), os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, DCVSR_RUNTIME_DIR=os.fspath(directory),
                PYTHONPATH=os.pathsep.join(p for p in paths if p), **extra)


def engine_command(renderer: str = NOOP) -> list[str]:
    return [sys.executable, "-m", "dcvsr_engine.server", "serve", "--renderer", renderer]


def short_runtime_dir() -> Path:
    """A fresh private folder with a short path (Unix socket paths are limited to ~100 bytes)."""
    return Path(tempfile.mkdtemp(prefix="dcvsr-t-"))


class EngineProcess:
    """with EngineProcess() as engine: client = engine.connect() ..."""

    def __init__(self, directory: str | os.PathLike | None = None, renderer: str = NOOP,
                 env: dict[str, str] | None = None, preexec: Any = None) -> None:
        self._own_dir = directory is None
        self.directory = Path(directory) if directory is not None else short_runtime_dir()
        self.renderer = renderer
        self.extra_env = env or {}
        self.preexec = preexec  # run in the child before the engine starts (e.g. a memory limit)
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def log(self) -> str:
        try:
            return (self.directory / "engine.log").read_text(errors="replace")
        except OSError:
            return ""

    def start(self, timeout: float = 120.0) -> EngineProcess:
        # A long deadline: an engine loading torch and a model under a loaded machine took over 30 s
        # (test_server_limits at load 7); one that exits is reported at once all the same.
        log = os.open(self.directory / "engine.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self.proc = subprocess.Popen(engine_command(self.renderer), env=child_env(self.directory,
                                                                                      **self.extra_env),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=_ROOT,
                                         preexec_fn=self.preexec)
        finally:
            os.close(log)
        deadline = time.monotonic() + timeout
        sock = self.directory / "engine.sock"
        # Over TCP the port file comes after the Unix socket: wait for the transport clients will use.
        while not (sock.exists() and can_connect(sock) and endpoint.can_connect(self.directory)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"engine did not start (status {self.proc.poll()}):\n{self.log}")
            time.sleep(0.02)
        return self

    def connect(self, **kw: Any) -> Client:
        return Client.connect(self.directory, autostart=False, **kw)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def __enter__(self) -> EngineProcess:
        return self.start()

    def close(self) -> None:
        """Stop the engine and remove the runtime folder if this object made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        self.close()
