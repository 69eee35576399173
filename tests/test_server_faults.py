"""Crashes on either side: kill -9 of a client mid-request, kill -9 of the engine mid-request."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from dcvsr_client import Client, EngineError, EngineGone
from dcvsr_protocol.transport import shm

from tests.engine_process import NOOP, EngineProcess, child_env, engine_command

pytestmark = pytest.mark.timeout(60)

W, H = 16, 12
SETTINGS = {"scale": 2, "radius": 1}
HAS_DEV_SHM = os.path.isdir("/dev/shm")


def ours(pid: int) -> list[str]:
    """Segments in /dev/shm named for engine pid."""
    if not HAS_DEV_SHM:
        return []
    return [n for n in os.listdir("/dev/shm") if shm.owner_pid(n) == pid]


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


VICTIM = textwrap.dedent("""
    import sys, time
    import numpy as np
    from dcvsr_client import Client
    c = Client.connect(sys.argv[1], autostart=False)
    s = c.open("victim", 16, 12, 500, settings={"scale": 2, "radius": 1})
    frame = np.zeros((12, 16, 3), np.float16)
    for i, _ in s.render(0, 500, source=lambda i: frame):
        if i == 2:
            print(s._shm.name.lstrip("/"), flush=True)
            time.sleep(600)  # stop reading: the engine fills the output slots and waits
""")


def test_client_killed_mid_request():
    with EngineProcess() as engine:
        good = engine.connect()
        frames = np.random.default_rng(0).random((40, H, W, 3), dtype=np.float32).astype(np.float16)
        session = good.open("good", W, H, 40, settings=SETTINGS)
        expected = dict(session.render(0, 40, source=lambda i: frames[i]))
        victim = subprocess.Popen([sys.executable, "-c", VICTIM, str(engine.directory)],
                                  env=child_env(engine.directory), stdout=subprocess.PIPE, text=True)
        try:
            segment = victim.stdout.readline().strip()
            assert segment.startswith(f"dcvsr_{engine.pid}_"), segment
            assert good.status()["sessions"] == 2
            stop = threading.Event()
            errors: list[BaseException] = []

            def keep_rendering() -> None:  # another client is served before, during and after the kill
                try:
                    while not stop.is_set():
                        for i, f in session.render(0, 40, source=lambda i: frames[i]):
                            assert np.array_equal(f, expected[i])
                except BaseException as e:
                    errors.append(e)

            worker = threading.Thread(target=keep_rendering)
            worker.start()
            time.sleep(0.3)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            assert wait_for(lambda: engine.proc.poll() is None and not os.path.exists(f"/dev/shm/{segment}"))
            time.sleep(0.3)
            stop.set()
            worker.join(timeout=30)
            assert not errors, errors
            assert good.status()["sessions"] == 1 and good.status()["connections"] == 1
            assert np.array_equal(session.frame(17, lambda i: frames[i]), expected[17])
        finally:
            if victim.poll() is None:
                victim.kill()
            victim.stdout.close()
        good.close()


def _leave_stale_segment(pid: int, directory) -> str:
    """A segment as a crashed engine `pid` would leave it (for the next engine to remove)."""
    name = shm.segment_name(pid, 0xFF)
    segment = shm.create(name, 4096)
    if sys.version_info < (3, 13):
        from multiprocessing import resource_tracker

        resource_tracker.unregister(segment._name, "shared_memory")
    shm.close_quietly(segment)
    (directory / f"shm.{pid}").write_text(name + "\n")
    return name


@pytest.fixture
def engine():
    e = EngineProcess().start()
    yield e
    e.close()


def test_engine_killed_mid_request(monkeypatch, engine):
    dead_pid = engine.pid
    client = engine.connect()
    frames = np.zeros((300, H, W, 3), np.float16)
    session = client.open("clip", W, H, 300, settings=SETTINGS)
    killed_at: list[float] = []

    def source(i: int) -> np.ndarray:
        if i == 5 and not killed_at:
            os.kill(dead_pid, signal.SIGKILL)
            killed_at.append(time.monotonic())
        return frames[i]

    with pytest.raises(EngineGone) as err:
        list(session.render(0, 300, source=source))
    assert time.monotonic() - killed_at[0] < 5
    assert "lost the connection to the dcvsr engine" in str(err.value) and str(dead_pid) in str(err.value)
    with pytest.raises(EngineGone):
        client.status()
    client.close()
    engine.proc.wait(timeout=10)

    stale = _leave_stale_segment(dead_pid, engine.directory)
    # A later request starts a new engine (autostart), which removes what the dead one left.
    for key, value in child_env(engine.directory).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DCVSR_ENGINE_CMD", shlex.join(engine_command(NOOP)))
    with Client.connect() as again:
        assert again.engine_pid != dead_pid
        assert ours(dead_pid) == []
        assert not (engine.directory / f"shm.{dead_pid}").exists()
        if HAS_DEV_SHM:
            assert not os.path.exists(f"/dev/shm/{stale}")
        with again.open("clip", W, H, 300, settings=SETTINGS) as s2:
            assert s2.frame(3, lambda i: frames[i]).shape == (2 * H, 2 * W, 3)
        again.stop()


def test_engine_stopping_mid_request_fails_the_request():
    with EngineProcess() as engine:
        client = engine.connect()
        session = client.open("clip", W, H, 300, settings=SETTINGS)
        frames = np.zeros((300, H, W, 3), np.float16)

        def source(i: int) -> np.ndarray:
            if i == 5:
                engine.proc.send_signal(signal.SIGTERM)
            elif i > 5:
                time.sleep(0.03)  # so the render cannot outrun the engine's shutdown on a loaded machine
            return frames[i]

        t0 = time.monotonic()
        with pytest.raises((EngineError, EngineGone)) as err:
            list(session.render(0, 300, source=source))
        assert time.monotonic() - t0 < 10
        if isinstance(err.value, EngineError):
            assert err.value.code == 400
        assert engine.proc.wait(timeout=10) == 0
        assert ours(engine.pid) == []
        client.close()
