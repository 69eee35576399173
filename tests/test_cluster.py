"""`dcvsr upscale --cluster`: shots rendered on a local Ray instance join into the very bytes of a
one-machine render, with 1 or 2 workers, after a worker is killed mid-shot, and after the whole job
is killed and started again (finished shots are not rendered again); without Ray, or with an
unreachable cluster, the command fails at once with a clear message and writes nothing.

Ray binds to the machine's address even when asked not to, so every Ray command runs in a network
namespace of its own with only the loopback (`unshare -n`), with HOME and the temporary folder
private to the test and Ray's usage reports off.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dcvsr_engine.io import open_writer
from tests.footage import CITY_CUT, city, photo_pan
from tests.test_cli import cli_env, command
from tests.test_job_resume import journal_of

pytest.importorskip("ray")

TIMEOUT = 240
FACTOR = 20                    # city frames 36x20
SHOTS = (6, 4, 5)              # city before its cut, city after it, a pan over a brick wall
CUTS = (6, 10)
WORKER_TITLE = b"ray::ShotWorker.render_shot"  # a worker's process title while it renders a shot


def flags(model: Path) -> list[str]:
    return ["--model", str(model), "--threads", "1", "--steps", "1", "--tile-size", "16", "--tile-frames",
            "4", "--segment-frames", "3", "--decode-chunk", "4", "--scale", "2", "--codec", "ffv1"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Three real shots: the city clip's two (its own cut) and a camera pan over a photo."""
    before = list(city(CITY_CUT - SHOTS[0], CITY_CUT, FACTOR))
    after = list(city(CITY_CUT, CITY_CUT + SHOTS[1], FACTOR))
    height, width = before[0].shape[:2]
    pan = photo_pan(SHOTS[2], height * FACTOR, width * FACTOR, FACTOR)
    folder = tmp_path_factory.mktemp("cluster_clip")
    with open_writer(folder / "shots.mkv", width, height, 25, codec="ffv1") as writer:
        for frame in [*before, *after, *pan]:
            writer.write(frame)
    (folder / "cuts.txt").write_text("\n".join(map(str, CUTS)) + "\n")
    return folder / "shots.mkv"


def upscale(model: Path, clip: Path, output: Path, *extra: str) -> list[str]:
    return command("upscale", clip, "-o", output, *flags(model), "--scene-cuts", clip.parent / "cuts.txt",
                   *extra)


def isolated(home: Path, cmd: list[str]) -> list[str]:
    """`cmd` in a network namespace holding only the loopback (as root, else as a mapped root)."""
    unshare = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    home.mkdir(parents=True, exist_ok=True)
    return [*unshare, "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd]


def ray_env(model_dir: Path, home: Path) -> dict[str, str]:
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return {**cli_env(model_dir), "HOME": str(home), "TMPDIR": str(home / "tmp"),
            "RAY_USAGE_STATS_ENABLED": "0", "RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "1",
            "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S": "1"}


@pytest.fixture
def home() -> Iterator[Path]:
    """HOME and the temporary folder of the test's Ray: private, and short (Ray's socket paths under it
    must fit in 107 bytes, which a pytest folder does not)."""
    folder = Path(tempfile.mkdtemp(prefix="dcvsr-ray-"))
    yield folder
    _wait_until_gone(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def reference(tiny_model_dir, clip, tmp_path_factory) -> bytes:
    """The one-machine render, without --cluster."""
    out = tmp_path_factory.mktemp("cluster_reference") / "one.mkv"
    done = subprocess.run(upscale(tiny_model_dir, clip, out, "--quiet"), env=cli_env(out.parent),
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    return out.read_bytes()


def events(stdout: str) -> list[dict]:
    """--progress json's events; every line on standard output is one (Ray's reports go elsewhere)."""
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_cluster_render_is_the_one_machine_render(tiny_model_dir, clip, reference, tmp_path, home,
                                                       workers):
    out = tmp_path / "cluster.mkv"
    cmd = upscale(tiny_model_dir, clip, out, "--cluster", f"local:{workers}", "--progress", "json")
    done = subprocess.run(isolated(home, cmd), env=ray_env(tmp_path, home),
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    workers_line = f"cluster: {workers} workers on local:{workers} (cpu, fp32, 1 thread(s) each), ready in"
    assert workers_line in done.stderr
    assert "cluster: 3 shots, longest 6 frames; 0 finished in an earlier run, 3 to render" in done.stderr
    seen = events(done.stdout)
    assert sum(e["event"] == "frame" for e in seen) == sum(SHOTS)
    assert [e for e in seen if e["event"] == "shots"][-1] == {"event": "shots", "job": 0, "shots": 3,
                                                              "running": 0, "done": 3, "retried": 0}
    assert out.read_bytes() == reference
    assert not journal_of(out).exists()


def _worker_pids(home: Path) -> list[int]:
    """The processes of this test's Ray workers that are rendering a shot now (told apart from other
    tests' by their HOME)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(WORKER_TITLE) and \
                    f"HOME={home}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_worker_killed_mid_shot_is_restarted_and_the_output_is_the_same(tiny_model_dir, clip, reference,
                                                                           tmp_path, home):
    out = tmp_path / "cluster.mkv"
    cmd = upscale(tiny_model_dir, clip, out, "--cluster", "local:2", "--progress", "json")
    proc = subprocess.Popen(isolated(home, cmd), env=ray_env(tmp_path, home), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    killed = None
    try:
        for line in proc.stdout:  # the first frame of a shot is encoded: that shot is mid-way
            event = json.loads(line)
            if killed is None and event["event"] == "frame":
                pids = _worker_pids(home)
                assert pids, "no worker process was rendering a shot"
                killed = pids[0]
                os.kill(killed, signal.SIGKILL)
            if event["event"] == "shots":
                last = event
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read()
    assert killed is not None
    assert proc.returncode == 0, stderr
    assert last["done"] == 3 and last["retried"] >= 1, last
    assert out.read_bytes() == reference


def test_a_killed_job_continues_without_rendering_its_finished_shots_again(tiny_model_dir, clip, reference,
                                                                           tmp_path, home):
    out = tmp_path / "cluster.mkv"
    env = ray_env(tmp_path, home)
    cmd = upscale(tiny_model_dir, clip, out, "--cluster", "local:1", "--progress", "json")
    # One worker renders the shots one after another (longest first: 6, 5, 4 frames); the job is
    # killed with SIGKILL once the first is journaled.
    proc = subprocess.Popen(isolated(home, cmd), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    try:
        for line in proc.stdout:
            if line.startswith('{"event": "shots"') and json.loads(line)["done"] == 1:
                break
        os.killpg(proc.pid, signal.SIGKILL)  # the command, its namespace and the Ray it started
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    _wait_until_gone(home)
    assert not out.exists()
    journal = json.loads((journal_of(out) / "journal.json").read_text())
    finished_frames = sum(record["frames"] for record in journal["done"].values())
    assert finished_frames == SHOTS[0], journal["done"]  # the longest shot, and only it

    again = subprocess.run(isolated(home, cmd), env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert again.returncode == 0, again.stderr
    assert "1 finished in an earlier run, 2 to render" in again.stderr
    seen = events(again.stdout)
    start = next(e for e in seen if e["event"] == "start")
    assert start["done"] == SHOTS[0]
    # Frames are counted as the workers encode them: only the two other shots' frames were encoded.
    assert sum(e["event"] == "frame" for e in seen) == SHOTS[1] + SHOTS[2]
    assert out.read_bytes() == reference


def _wait_until_gone(home: Path) -> None:
    """End what is left of this test's Ray (its processes carry the test's HOME) and wait until it is gone."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        mine = [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and _has_home(e, home)]
        if not mine:
            return
        for pid in mine:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def _has_home(entry: Path, home: Path) -> bool:
    try:
        return f"HOME={home}".encode() in (entry / "environ").read_bytes().split(b"\0")
    except OSError:
        return False


def test_without_ray_the_command_says_how_to_install_it_and_writes_nothing(tiny_model_dir, clip, tmp_path):
    shim = tmp_path / "shim" / "ray"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    env = cli_env(tmp_path)
    env["PYTHONPATH"] = f"{shim.parent}{os.pathsep}{env['PYTHONPATH']}"
    out = tmp_path / "out" / "cluster.mkv"
    out.parent.mkdir()
    done = subprocess.run(upscale(tiny_model_dir, clip, out, "--cluster"), env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 2
    assert "--cluster needs Ray, which is not installed" in done.stderr
    assert "pip install 'dcvsr[cluster]'" in done.stderr
    assert list(out.parent.iterdir()) == []


def test_an_unreachable_cluster_is_named_within_seconds_and_nothing_is_written(tiny_model_dir, clip,
                                                                                tmp_path, home):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "out" / "cluster.mkv"
    out.parent.mkdir()
    started = time.monotonic()
    cmd = upscale(tiny_model_dir, clip, out, "--cluster", f"ray://127.0.0.1:{port}")
    done = subprocess.run(isolated(home, cmd), env=ray_env(tmp_path, home), capture_output=True, text=True,
                          timeout=TIMEOUT)
    took = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert f"--cluster ray://127.0.0.1:{port}: no Ray cluster answered in about 3 s" in done.stderr
    assert took < 60, took
    assert list(out.parent.iterdir()) == []


def test_a_work_dir_elsewhere_holds_the_job_and_the_output_is_the_same(tiny_model_dir, clip, reference,
                                                                        tmp_path):
    """--work-dir (here on /dev/shm, another file system where there is one) without --cluster: the
    job's folder lives there, the result is made beside the output and renamed into place, the same
    bytes; nothing is left in either place."""
    shm = Path("/dev/shm")
    work = Path(tempfile.mkdtemp(prefix="dcvsr-work-", dir=shm if shm.is_dir() else tmp_path))
    out = tmp_path / "out" / "elsewhere.mkv"
    out.parent.mkdir()
    try:
        done = subprocess.run(upscale(tiny_model_dir, clip, out, "--quiet", "--work-dir", work / "jobs"),
                              env=cli_env(tmp_path), capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0, done.stderr
        assert out.read_bytes() == reference
        assert list(out.parent.iterdir()) == [out]
        assert list((work / "jobs").iterdir()) == []
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_worker_unlike_the_job_is_refused(tiny_model_dir):
    """What a worker reports of itself, compared with the job's: another dtype (or device type, thread
    count, model) is named; the same passes."""
    from dcvsr_engine.cluster.driver import unlike
    from dcvsr_engine.cluster.worker import ShotWorker

    fp32 = ShotWorker(str(tiny_model_dir), "cpu", "fp32", 1).describe()
    bf16 = ShotWorker(str(tiny_model_dir), "cpu", "bf16", 1).describe()
    want = {k: fp32[k] for k in ("device", "dtype", "threads", "model")}
    assert want == {"device": "cpu", "dtype": "fp32", "threads": 1, "model": fp32["model"]}
    assert unlike(want, fp32) is None
    assert unlike(want, bf16).startswith(f"the worker on {bf16['node']} renders with {{'dtype': 'bf16'}}, "
                                         "not the job's {'dtype': 'fp32'}: every worker must have the same")


@pytest.mark.parametrize("value, message", [
    ("remote", "give local, local:N"), ("local:0", "give local, local:N"), ("ray://host", "ray://HOST:PORT"),
])
def test_a_bad_cluster_address_is_refused_before_anything_starts(value, message):
    from dcvsr_protocol.errors import SettingsError

    from dcvsr_engine.cluster.address import parse_cluster

    with pytest.raises(SettingsError, match=message):
        parse_cluster(value)


def test_shots_are_the_spans_between_cuts_handed_out_longest_first(preset):
    from dcvsr_engine.cluster.shots import longest_first, plan_shots
    from dcvsr_engine.sampler.segments import plan_segments

    segments = plan_segments(15, preset(segment_frames=3), CUTS)
    shots = plan_shots(list(segments))
    assert [(s.start, s.end, s.first, s.stop) for s in shots] == [(0, 6, 0, 2), (6, 10, 2, 4), (10, 15, 4, 6)]
    assert [s.index for s in longest_first(shots)] == [0, 2, 1]
    assert np.array_equal([s.frames for s in shots], SHOTS)
