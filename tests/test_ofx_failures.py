"""The OpenFX effect when things go wrong: no engine and autostart off, the engine killed in the
middle of a render (then restarted), a model that does not exist, a host that aborts. Each ends
in a clean failure with a persistent message, within a deadline, with every image released and
no shared memory left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import TORCH_THREADS
from tests.engine_process import EngineProcess
from tests.ofx_build import BUNDLE, TEST_BIN, make
from tests.test_ofx_effect import DCVSR, HostRun, host

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module", autouse=True)
def built():
    make("linux", "tests")


def engine_env(model_dir, cache_dir) -> dict[str, str]:
    return {"DCVSR_MODEL": str(model_dir), "DCVSR_CACHE_DIR": str(cache_dir),
            "DCVSR_THREADS": str(TORCH_THREADS), "OMP_NUM_THREADS": str(TORCH_THREADS)}


def dcvsr_engine(model_dir, tmp_path) -> EngineProcess:
    return EngineProcess(renderer=DCVSR, env=engine_env(model_dir, tmp_path / "cache")).start(timeout=120)


def segments_of(pid: int) -> list[str]:
    shm = Path("/dev/shm")
    return sorted(p.name for p in shm.iterdir() if p.name.startswith(f"dcvsr_{pid}_")) if shm.is_dir() else []


def test_no_engine_and_autostart_off(tmp_path):
    directory = tmp_path / "rt"
    directory.mkdir(mode=0o700)
    started = time.monotonic()
    run = host(directory, tmp_path, [1], timeout=60)
    run.check_clean()
    status, message = run.renders[1]
    assert status == 1 and "no dcvsr engine is running" in message and "Install dcvsr" in message
    assert time.monotonic() - started < 30


def test_missing_model_names_it(tiny_model_dir, tmp_path):
    with dcvsr_engine(tiny_model_dir, tmp_path) as e:
        run = host(e.directory, tmp_path, [2], params={"model": "/nonexistent/dcvsr-model"})
        run.check_clean()
        status, message = run.renders[2]
        assert status == 1 and "/nonexistent/dcvsr-model" in message
        pid = e.pid
    assert segments_of(pid) == []


def test_abort_cancels_cleanly(tiny_model_dir, tmp_path):
    with dcvsr_engine(tiny_model_dir, tmp_path) as e:
        started = time.monotonic()
        run = host(e.directory, tmp_path, [5], "--abort-after", "2", params={"steps": 40}, timeout=120)
        run.check_clean()
        status, message = run.renders[5]
        assert status == 1 and "aborted by the host" in message
        assert time.monotonic() - started < 60
        # The engine cancelled the render and serves the next one.
        with e.connect() as client:
            assert client.status()["renderer"] == "dcvsr"


def test_engine_killed_mid_render_then_restarted(tiny_model_dir, tmp_path):
    env = engine_env(tiny_model_dir, tmp_path / "cache")
    engine = EngineProcess(renderer=DCVSR, env=env).start(timeout=120)
    directory = engine.directory
    out = tmp_path / "out.f32"
    args = [str(TEST_BIN / "ofx_host"), str(BUNDLE), str(out), "--size", "48", "32", "--frames-in-clip", "12",
            "--render", "6", "--param", "scale=0", "--param", "steps=60"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, DCVSR_RUNTIME_DIR=str(directory), DCVSR_AUTOSTART="0"))
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "BeginSequenceRender" in line:
                break
        deadline = time.monotonic() + 60
        while not segments_of(engine.pid) and time.monotonic() < deadline:  # the session is open
            time.sleep(0.05)
        time.sleep(1.0)
        dead = engine.pid
        os.kill(dead, signal.SIGKILL)
        stdout = "".join(seen) + proc.stdout.read()  # read through the same buffered file
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    engine.proc.wait(timeout=10)
    result = subprocess.CompletedProcess(args, proc.returncode, stdout, "")
    run = HostRun(result, out, [6])
    run.check_clean()
    status, message = run.renders[6]
    assert status == 1 and "lost the connection to the dcvsr engine" in message and "render again" in message
    # A new engine in the same folder removes the dead one's segments, and renders the frame.
    with EngineProcess(directory, renderer=DCVSR, env=env).start(timeout=120):
        assert segments_of(dead) == []
        again = host(directory, tmp_path, [6])
        again.check_clean()
        assert again.renders[6] == (0, "-")
    engine.close()


def test_a_pixel_depth_it_cannot_take_is_a_format_error(tiny_model_dir, tmp_path):
    with dcvsr_engine(tiny_model_dir, tmp_path) as e:
        run = host(e.directory, tmp_path, [3], "--depth", "none")
        run.check_clean()
        status, message = run.renders[3]
        assert status == 7 and "pixel format" in message  # kOfxStatErrFormat
