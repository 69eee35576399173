"""The Win64 bundle (mingw-w64, static runtime) and a Win64 build of the test host, run under Wine
(Debian's wine64, headless: the loader in wine's library folder, a temporary WINEPREFIX,
WINEDEBUG=-all) against the Linux engine over loopback TCP, with the same checks as on Linux."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.engine_process import EngineProcess, short_runtime_dir
from tests.ofx_build import BUNDLE, WIN64_HOST, WIN64_PLUGIN, make
from tests.test_ofx_effect import DCVSR, FRAMES, STEPS, H, HostRun, W, assert_same_rgb, python_frames
from tests.test_ofx_failures import engine_env

pytestmark = pytest.mark.timeout(600)

WINE = Path("/usr/lib/wine/wine64")


def windows_path(path: Path) -> str:
    return "Z:" + str(path).replace("/", "\\")  # wine maps Z: to /


@pytest.fixture(scope="module", autouse=True)
def built():
    make("win64")


@pytest.fixture(scope="module")
def wine_prefix():
    if not WINE.exists():
        pytest.fail("wine64 is missing: run scripts/install-ofx-tools (installs Debian's wine64)")
    prefix = Path(tempfile.mkdtemp(prefix="dcvsr-wine-"))
    yield prefix
    subprocess.run([str(WINE.parent / "wineserver"), "-k"], env=dict(os.environ, WINEPREFIX=str(prefix)),
                   capture_output=True, timeout=60)
    shutil.rmtree(prefix, ignore_errors=True)


@pytest.fixture(scope="module")
def tcp_engine(tiny_model_dir, tmp_path_factory):
    directory = short_runtime_dir()
    (directory / "transport").write_text("tcp\n")
    env = engine_env(tiny_model_dir, tmp_path_factory.mktemp("cache"))
    with EngineProcess(directory, renderer=DCVSR, env=env).start(timeout=120) as engine:
        yield engine


def wine_host(prefix: Path, directory: Path, tmp_path: Path, frames: list[int], *options: str) -> HostRun:
    out = tmp_path / "wine_out.f32"
    out.unlink(missing_ok=True)
    args = [str(WINE), str(WIN64_HOST), windows_path(BUNDLE), windows_path(out), "--size", str(W), str(H),
            "--frames-in-clip", str(FRAMES), "--render", ",".join(map(str, frames)), "--param", "scale=0",
            "--param", f"steps={STEPS}", *options]
    env = dict(os.environ, WINEPREFIX=str(prefix), WINEDEBUG="-all",
               DCVSR_RUNTIME_DIR=windows_path(directory), DCVSR_AUTOSTART="0")
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    return HostRun(result, out, frames)


def objdump(*args: str) -> str:
    return subprocess.run(["x86_64-w64-mingw32-objdump", *args], capture_output=True, text=True,
                          check=True).stdout


def test_win64_plugin_exports_only_the_entry_points_and_needs_only_system_dlls():
    table = objdump("-p", str(WIN64_PLUGIN))
    exported = re.search(r"\[Ordinal/Name Pointer\] Table\n((?:\s+\[.*\n)+)", table)
    assert exported, table[:2000]
    names = {line.split()[-1] for line in exported[1].splitlines()}
    assert names == {"OfxGetNumberOfPlugins", "OfxGetPlugin", "OfxSetHost"}
    dlls = {d.lower() for d in re.findall(r"DLL Name: (\S+)", table)}
    assert dlls <= {"kernel32.dll", "msvcrt.dll", "ws2_32.dll"}, dlls  # no libgcc or winpthread DLL


def test_win64_host_under_wine_gets_the_python_pixels_over_tcp(wine_prefix, tcp_engine, tmp_path):
    frames = [6, 1, 3]
    run = wine_host(wine_prefix, tcp_engine.directory, tmp_path, frames, "--threads", "2",
                    "--rows", "negative")
    run.check_clean()
    assert all(status == 0 for status, _m in run.renders.values())
    assert_same_rgb(run, frames, python_frames(tcp_engine, frames))
    assert re.search(r"^status engine pid \d+", run.stdout, re.M)


def test_win64_host_under_wine_half_depth_and_nan_fill(wine_prefix, tcp_engine, tmp_path):
    run = wine_host(wine_prefix, tcp_engine.directory, tmp_path, [2], "--depth", "half", "--nan-fill")
    run.check_clean()
    assert run.renders[2][0] == 0 and not np.isnan(run.pixels).any()


def test_win64_host_under_wine_without_engine_fails_cleanly(wine_prefix, tmp_path):
    directory = tmp_path / "rt"
    directory.mkdir(mode=0o700)
    (directory / "transport").write_text("tcp\n")
    run = wine_host(wine_prefix, directory, tmp_path, [0])
    run.check_clean()
    status, message = run.renders[0]
    assert status == 1 and "no dcvsr engine is running" in message and "tcp" in message
