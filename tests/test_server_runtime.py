"""The engine checks its runtime folder exactly as a client does, and creates its files without
following links planted at their names."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from dcvsr_client import control

from tests.engine_process import NOOP, EngineProcess, child_env, short_runtime_dir

pytestmark = pytest.mark.timeout(60)


def serve(directory, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dcvsr_engine.server", "serve", "--renderer", NOOP,
                           "--runtime-dir", str(directory), *extra], env=child_env(directory),
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


@pytest.fixture
def folder():
    directory = short_runtime_dir()
    yield directory
    os.chmod(directory, 0o700)
    os.chown(directory, os.getuid(), os.getgid())
    control.stop(directory)
    subprocess.run(["rm", "-rf", str(directory)], check=False)


def test_a_folder_open_to_others_is_refused(folder):
    os.chmod(folder, 0o777)
    run = serve(folder)
    assert run.returncode == 1 and "open to other users" in run.stderr, run.stderr
    assert sorted(os.listdir(folder)) == []  # no token, no lock, no pid file written there


def test_a_link_is_refused(folder, tmp_path):
    link = tmp_path / "rt"
    link.symlink_to(folder)
    run = serve(link)
    assert run.returncode == 1 and "not a directory (a link?)" in run.stderr, run.stderr


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the folder to another user")
def test_a_folder_of_another_user_is_refused(folder):
    os.chown(folder, 65534, 65534)
    run = serve(folder)
    assert run.returncode == 1 and "belongs to uid 65534" in run.stderr, run.stderr


def test_planted_links_are_not_followed_and_the_engine_still_stops(folder, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (folder / "engine.pid").symlink_to(victim)
    (folder / f"shm.{os.getpid()}").symlink_to(victim)  # a record name: not this engine's, but a link
    engine = EngineProcess(folder)
    engine.start()
    try:
        assert not (folder / "engine.pid").is_symlink()
        assert (folder / "engine.pid").read_text().strip() == str(engine.pid)
        assert victim.read_text() == "precious\n"
        assert control.stop(folder)  # `dcvsr stop` accepts the folder the engine accepted
        assert engine.proc.wait(timeout=15) == 0
    finally:
        engine.stop()
    assert victim.read_text() == "precious\n"


def test_a_planted_token_link_is_refused(folder, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("f" * 64)
    os.chmod(secret, 0o600)
    (folder / "token").symlink_to(secret)
    run = serve(folder)
    assert run.returncode != 0 and "token file" in run.stderr, run.stderr
