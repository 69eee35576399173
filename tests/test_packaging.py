"""Installing the ordinary way, into fresh virtual environments (no scripts/setup): `pip install .` in
the checkout, and the wheels `python -m build` makes; then `dcvsr upscale` of a small clip and
`python -m vsdcvsr` in each. A third environment is a host's: VapourSynth and numpy only, which
`dcvsr install --hosts vapoursynth` equips and `dcvsr uninstall` restores byte for byte, and which then
takes the client-only wheels (dcvsr-client, vsdcvsr) on their own.

The environments share one pip cache; torch comes from this machine's wheel folder or that cache.
These are the slowest tests of the suite (a few minutes on two cores: most of it is unpacking torch).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcvsr_engine.io import open_clip
from tests.engine_process import short_runtime_dir

ROOT = Path(__file__).resolve().parents[1]
INSTALL_VAPOURSYNTH = ROOT / "scripts" / "install-vapoursynth"
WARNINGS = ("Deprecat", "BuildBackendWarning", "deprecated")

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="module")
def env(work) -> dict[str, str]:
    """A clean environment: no venv or dcvsr variables of the test run; one shared pip cache."""
    out = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME") and not k.startswith(("DCVSR_", "OFX_"))}
    cache = os.environ.get("DCVSR_TEST_PIP_CACHE", str(Path.home() / ".cache/dcvsr/test-pip"))
    out.update(PIP_CACHE_DIR=cache, PIP_DISABLE_PIP_VERSION_CHECK="1", DCVSR_CACHE_BYTES="0",
               DCVSR_RUNTIME_DIR=str(short_runtime_dir()), OMP_NUM_THREADS="1")
    return out


@pytest.fixture(scope="module")
def clip(work) -> Path:
    folder = work / "clip"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8)).save(folder / f"f{i}.png")
    return folder


def run(command: list, env: dict[str, str], timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout,
                            env=env, stdin=subprocess.DEVNULL, **kwargs)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, command))} exited {result.returncode}:\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def fresh_venv(path: Path, env: dict[str, str]) -> Path:
    run([sys.executable, "-m", "venv", path], env)
    return path / "bin" / "python"


def pip_install(python: Path, env: dict[str, str], *what) -> str:
    # --no-compile: byte-compiling torch's thousands of files is most of an install's time here.
    return run([python, "-m", "pip", "install", "-v", "--no-compile", *what], env).stdout


def no_build_warnings(output: str) -> None:
    bad = [ln for ln in output.splitlines() if any(w in ln for w in WARNINGS)]
    assert not bad, "the build warned:\n" + "\n".join(bad[:10])


def upscale_and_check_plugin(python: Path, clip: Path, work: Path, env: dict[str, str]) -> None:
    """`dcvsr upscale` of a small clip, then VapourSynth and `python -m vsdcvsr` (starting an engine)."""
    venv = python.parent.parent
    out = work / f"{venv.name}.mp4"
    run([venv / "bin" / "dcvsr", "upscale", clip, "-o", out, "--scale", "2", "--quality", "preview",
         "--quiet"], env)
    written = open_clip(out)
    assert (written.num_frames, written.width, written.height) == (4, 64, 48)
    run([INSTALL_VAPOURSYNTH, python], env)
    try:
        check = run([python, "-m", "vsdcvsr"], env, timeout=300).stdout
    finally:
        subprocess.run([venv / "bin" / "dcvsr", "stop"], env=env, capture_output=True, timeout=60)
    assert "everything vsdcvsr.upscale needs is in place" in check, check


@pytest.fixture(scope="module")
def checkout(work) -> Path:
    """A copy of the checkout as git sees it (tracked and new files, nothing ignored): setuptools builds
    in the source tree, and build outputs left there by an earlier build would go into the wheels."""
    copy = work / "checkout"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, timeout=60)
    if listed.returncode != 0:  # not a git checkout: everything but what builds and runs leave behind
        shutil.copytree(ROOT, copy, symlinks=True, ignore=shutil.ignore_patterns(
            ".venv", "build", "dist", "*.egg-info", "__pycache__", "payload", ".git"))
        return copy
    for name in listed.stdout.decode().split("\0"):
        source = ROOT / name
        if name and (source.is_file() or source.is_symlink()):
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name, follow_symlinks=False)
    return copy


def test_pip_install_checkout(work, env, clip, checkout):
    python = fresh_venv(work / "venv-checkout", env)
    output = pip_install(python, env, checkout)
    no_build_warnings(output)
    upscale_and_check_plugin(python, clip, work, env)


@pytest.fixture(scope="module")
def wheels(work, env, checkout) -> dict[str, Path]:
    """`python -m build` of the project (an sdist, then the wheel from it) and of the client-only
    distributions."""
    dist = work / "dist"
    output = run([sys.executable, "-m", "build", "--outdir", dist, checkout], env).stdout
    no_build_warnings(output)
    for sub in ("client", "plugin"):
        built = run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, checkout / sub], env)
        no_build_warnings(built.stdout)
    found = {p.name.split("-")[0]: p for p in dist.glob("*.whl")}
    assert set(found) == {"dcvsr", "dcvsr_client", "vsdcvsr"}, found
    return found


def test_wheel_metadata(wheels):
    wheel = wheels["dcvsr"]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata and "License-File: LICENSE" in metadata
    assert "Requires-Dist: dcvsr-client" not in metadata  # the wheel carries the client: no other index
    assert "Requires-Dist: torch==2.13.0" in metadata
    for package in ("dcvsr_engine", "dcvsr_client", "vsdcvsr", "dcvsr_install"):
        assert f"{package}/__init__.py" in names, package
    assert any(n.startswith("dcvsr_engine/model/shipped/nano/") for n in names)
    binaries = [n for n in names if n.endswith("/DCVSR.ofx")]
    if list((ROOT / "ofx_bridge" / "effect").glob("*.c")):
        # A platform wheel: the OpenFX bundle for this platform, built by the hook.
        assert wheel.name.endswith("-py3-none-linux_x86_64.whl"), wheel.name
        assert binaries == ["dcvsr_install/payload/DCVSR.ofx.bundle/Contents/Linux-x86-64/DCVSR.ofx"]
    else:
        assert wheel.name.endswith("-py3-none-any.whl") and binaries == []


def test_wheels_install_and_equip_a_host_environment(work, env, clip, wheels):
    # installers/install.sh: a private environment, the wheel, then `dcvsr install` (here with a home of
    # its own and no hosts present: it writes the engine command file).
    home = work / "home-install-sh"
    home.mkdir()
    venv = work / "venv-wheel"
    sh_env = {k: v for k, v in env.items() if not k.startswith("XDG_")}
    sh_env.update(HOME=str(home), PIP_NO_COMPILE="1")
    out = run([ROOT / "installers" / "install.sh", "--wheel", wheels["dcvsr"], "--env", venv,
               "--python", sys.executable], sh_env).stdout
    assert "done" in out and (home / ".config/dcvsr/engine-command").is_file(), out
    python = venv / "bin" / "python"
    upscale_and_check_plugin(python, clip, work, env)

    # A host's environment: VapourSynth and numpy only, found through --vapoursynth-python.
    host = fresh_venv(work / "venv-host", env)
    pip_install(host, env, "numpy")
    run([INSTALL_VAPOURSYNTH, host], env)
    home = work / "home"
    home.mkdir()
    host_env = {k: v for k, v in env.items() if not k.startswith("XDG_")}
    host_env["HOME"] = str(home)
    purelib = run([host, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env)
    site = Path(purelib.stdout.strip())
    before = snapshot(home) | snapshot(site)
    dcvsr = python.parent / "dcvsr"
    out = run([dcvsr, "install", "--hosts", "vapoursynth", "--vapoursynth-python", host], host_env).stdout
    assert "client: ok" in out and "vapoursynth: ok" in out, out
    assert (site / "dcvsr-host.pth").is_file()
    # The host's Python starts the engine of the dcvsr environment, through the engine command file.
    try:
        check = run([host, "-m", "vsdcvsr"], host_env, timeout=300).stdout
    finally:
        subprocess.run([dcvsr, "stop"], env=host_env, capture_output=True, timeout=60)
    assert "everything vsdcvsr.upscale needs is in place" in check, check
    run([dcvsr, "uninstall"], host_env)
    assert snapshot(home) | snapshot(site) == before

    # The client-only wheels alone: a host that installs them needs neither torch nor the engine.
    pip_install(host, env, wheels["dcvsr_client"], wheels["vsdcvsr"])
    alone = subprocess.run([host, "-m", "vsdcvsr", "--no-start"], capture_output=True, text=True, timeout=120,
                           env=host_env)
    assert "client: ok" in alone.stdout and "vapoursynth: ok" in alone.stdout, alone.stdout + alone.stderr
    torch = run([host, "-c", "import importlib.util as u; print(u.find_spec('torch'))"], env)
    assert torch.stdout.strip() == "None"


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    out = {}
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts:  # the host Python's own byte-code of packages it imported
            continue
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
        out[str(path)] = (stat.S_IMODE(st.st_mode), digest)
    return out

