"""Starting, finding and stopping engines: autostart with its lock, serve --detach, status, stop."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import threading
import time

import pytest
from dcvsr_client import Client, EngineStartError, control

from tests.engine_process import NOOP, child_env, engine_command, short_runtime_dir

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def runtime(monkeypatch):
    directory = short_runtime_dir()
    for key, value in child_env(directory).items():
        monkeypatch.setenv(key, value)
    yield directory
    control.stop(directory)
    shutil.rmtree(directory, ignore_errors=True)


def test_two_clients_starting_at_once_start_one_engine(runtime, monkeypatch):
    monkeypatch.setenv("DCVSR_ENGINE_CMD", shlex.join(engine_command(NOOP)))
    monkeypatch.delenv("DCVSR_AUTOSTART", raising=False)
    pids: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def connect() -> None:
        try:
            barrier.wait(timeout=10)
            with Client.connect() as c:
                pids.append(c.engine_pid)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=connect) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=40)
    assert not errors, errors
    assert len(pids) == 3 and len(set(pids)) == 1
    info = control.status(runtime)
    assert info is not None and info["pid"] == pids[0] and info["renderer"] == "noop"
    assert control.stop(runtime)
    assert control.status(runtime) is None


def test_autostart_off_and_failing_start_say_why(runtime, monkeypatch):
    monkeypatch.setenv("DCVSR_AUTOSTART", "0")
    with pytest.raises(EngineStartError, match="DCVSR_AUTOSTART=0"):
        Client.connect()
    monkeypatch.setenv("DCVSR_AUTOSTART", "1")
    monkeypatch.setenv("DCVSR_ENGINE_CMD", shlex.join([sys.executable, "-c", "import sys; sys.exit(3)"]))
    t0 = time.monotonic()
    with pytest.raises(EngineStartError, match="status 3"):
        Client.connect(timeout=20)
    assert time.monotonic() - t0 < 10


def test_detach_status_stop(runtime):
    pid = control.serve_detached(NOOP, runtime_dir=runtime)
    assert pid > 0
    assert control.serve_detached(NOOP, runtime_dir=runtime) == 0  # already running
    # The probe connection of the second serve() closes asynchronously: wait until the engine saw it go.
    deadline = time.monotonic() + 10
    while (info := control.status(runtime))["connections"] != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert info["pid"] == pid and info["connections"] == 1 and info["sessions"] == 0
    assert control.stop(runtime)
    assert control.status(runtime) is None
    assert not control.stop(runtime)


def test_second_engine_in_the_same_folder_refuses(runtime):
    from dcvsr_engine.server.engine import Engine, EngineRunning
    from dcvsr_engine.server.noop import NoOpRenderer

    control.serve_detached(NOOP, runtime_dir=runtime)
    with pytest.raises(EngineRunning):
        Engine(runtime, NoOpRenderer).start()
    assert control.status(runtime) is not None


# A SIGTERM sent the moment start() has the socket and port file up, before serve_forever().
_STOPPED_AS_SOON_AS_UP = """
import os, signal, sys
from dcvsr_engine.server import control, engine

start = engine.Engine.start
def start_then_terminated(self):
    start(self)
    os.kill(os.getpid(), signal.SIGTERM)
engine.Engine.start = start_then_terminated
sys.exit(control.serve(renderer_factory=sys.argv[1]))
"""


def test_a_stop_as_soon_as_the_engine_is_up_removes_its_files(runtime):
    from dcvsr_protocol import endpoint

    (runtime / endpoint.TRANSPORT_NAME).write_text("tcp")
    done = subprocess.run([sys.executable, "-c", _STOPPED_AS_SOON_AS_UP, NOOP], env=child_env(runtime),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    for name in ("engine.sock", "engine.pid", endpoint.PORT_NAME):
        assert not (runtime / name).exists(), name
