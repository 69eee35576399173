"""`dcvsr install` / `uninstall` into fake roots, for each platform's layout: the files and modes, the
service definitions each platform reads, upgrade and uninstall leaving the root byte for byte as it
was, --dry-run writing nothing, and the refusals."""

from __future__ import annotations

import hashlib
import os
import plistlib
import shutil
import stat
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from dcvsr_install import service
from dcvsr_install.layout import Layout
from dcvsr_protocol import engine_command_file

PLATFORMS = ("linux", "macos", "windows")
BIN = {"linux": "Linux-x86-64", "macos": "MacOS", "windows": "Win64"}
TASK = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"


def dcvsr(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "dcvsr_engine.cli", *args], capture_output=True, text=True,
                            timeout=120, env=env, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"dcvsr {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout}{result.stderr}")
    return result


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A bundle laid out like the build hook's, with a binary for each platform (the installer copies
    bytes; the real bundle's loading is test_ofx_bundle_loads_in_test_host's)."""
    root = tmp_path_factory.mktemp("bundle") / "DCVSR.ofx.bundle"
    contents = root / "Contents"
    (contents / "Resources").mkdir(parents=True)
    (contents / "Info.plist").write_bytes(plistlib.dumps({"CFBundleExecutable": "DCVSR.ofx"}))
    (contents / "Resources" / "org.dcvsr.upscale.png").write_bytes(b"\x89PNG fixture")
    for folder in BIN.values():
        (contents / folder).mkdir()
        binary = contents / folder / "DCVSR.ofx"
        binary.write_bytes(f"binary for {folder}".encode())
        binary.chmod(0o755)
    return root


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under root with its mode and content digest."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
        out[str(path.relative_to(root))] = (stat.S_IMODE(st.st_mode), digest)
    return out


def fake_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "DCVSR_", "OFX_"))}
    env.update(HOME=str(home), USERPROFILE="C:\\Users\\ada", LOCALAPPDATA="C:\\Users\\ada\\AppData\\Local",
               APPDATA="C:\\Users\\ada\\AppData\\Roaming", PROGRAMDATA="C:\\ProgramData",
               CommonProgramFiles="C:\\Program Files\\Common Files", DCVSR_AUTOSTART="0")
    return env


def install_args(platform: str, scope: str, root: Path, bundle: Path,
                 hosts: str = "ofx,service") -> list[str]:
    return ["--platform", platform, f"--{scope}", "--prefix", str(root), "--hosts", hosts, "--ofx-bundle",
            str(bundle)]


def layout_for(platform: str, scope: str, root: Path, home: Path) -> Layout:
    return Layout.current(scope, root, platform, env=fake_env(home),
                          home=Path("C:\\Users\\ada") if platform == "windows" else home)


@pytest.mark.parametrize("scope", ["user", "system"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_install_layout(tmp_path, bundle, platform, scope):
    root = tmp_path / "root"
    root.mkdir()
    home = Path("/home/ada")
    env = fake_env(home)
    out = dcvsr("install", *install_args(platform, scope, root, bundle), env=env).stdout
    layout = layout_for(platform, scope, root, home)
    expected_ofx = {("linux", "system"): root / "usr/OFX/Plugins",
                    ("macos", "system"): root / "Library/OFX/Plugins",
                    ("windows", "system"): root / "C/Program Files/Common Files/OFX/Plugins"}
    ofx_dir = expected_ofx.get((platform, scope), layout.ofx_dir())
    assert layout.ofx_dir() == ofx_dir
    binary = ofx_dir / "DCVSR.ofx.bundle" / "Contents" / BIN[platform] / "DCVSR.ofx"
    assert stat.S_IMODE(binary.stat().st_mode) == 0o755
    plist = ofx_dir / "DCVSR.ofx.bundle" / "Contents" / "Info.plist"
    assert stat.S_IMODE(plist.stat().st_mode) == 0o644
    # The engine command file is what the C client and the Python client read.
    command_file = layout.engine_command_file()
    assert engine_command_file.read(command_file) == [sys.executable, "-m", "dcvsr_engine.server"]
    service_file = layout.service_file()
    assert stat.S_IMODE(service_file.stat().st_mode) == 0o644
    assert layout.manifest().is_file()
    if scope == "user":
        assert "OFX_PLUGIN_PATH" in out
        if platform == "linux":
            env_file = layout.ofx_env_file()
            assert env_file.read_text().startswith(f"OFX_PLUGIN_PATH={ofx_dir}$")


def installed_service(tmp_path: Path, bundle: Path, platform: str, home: Path) -> Path:
    """Install the service alone for `platform` into a fake root; the path of its definition."""
    root = tmp_path / "root"
    root.mkdir()
    dcvsr("install", *install_args(platform, "user", root, bundle, "service"), env=fake_env(home))
    return layout_for(platform, "user", root, home).service_file()


def test_systemd_unit_verifies(tmp_path, bundle):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = installed_service(tmp_path, bundle, "linux", Path("/home/ada"))
    text = unit.read_text()
    assert f'ExecStart="{sys.executable}" "-m" "dcvsr_engine.server" "serve"' in text
    assert "WantedBy=default.target" in text and "Restart=on-failure" in text
    result = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "dcvsr-engine.service" not in result.stderr, result.stderr  # no warnings about the unit


def test_launchd_plist_parses(tmp_path, bundle):
    path = installed_service(tmp_path, bundle, "macos", Path("/Users/ada"))
    assert path == tmp_path / "root" / "Users/ada/Library/LaunchAgents/org.dcvsr.engine.plist"
    plist = plistlib.loads(path.read_bytes())
    assert plist["Label"] == "org.dcvsr.engine"
    assert plist["ProgramArguments"] == [sys.executable, "-m", "dcvsr_engine.server", "serve"]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["StandardErrorPath"].endswith("/Library/Application Support/dcvsr/logs/engine.log")


def test_windows_task_xml_parses(tmp_path, bundle):
    path = installed_service(tmp_path, bundle, "windows", Path("/home/ada"))
    assert path == tmp_path / "root" / "C/Users/ada/AppData/Local/dcvsr/dcvsr-engine.task.xml"
    assert path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16, as schtasks /XML expects
    task = ET.parse(path).getroot()
    assert task.tag == f"{TASK}Task"
    assert task.find(f"{TASK}Triggers/{TASK}LogonTrigger/{TASK}Enabled").text == "true"
    assert task.find(f"{TASK}Actions/{TASK}Exec/{TASK}Command").text == sys.executable
    assert task.find(f"{TASK}Actions/{TASK}Exec/{TASK}Arguments").text == "-m dcvsr_engine.server serve"
    assert task.find(f"{TASK}Settings/{TASK}ExecutionTimeLimit").text == "PT0S"
    assert task.find(f"{TASK}Settings/{TASK}RestartOnFailure/{TASK}Count").text == "3"


def _home_root(tmp_path: Path, platform: str) -> tuple[Path, Layout, dict[str, Path]]:
    """A fake root that already holds things: another OpenFX plugin, the user's config and cache folders."""
    root = tmp_path / "root"
    home = Path("/home/ada")
    layout = layout_for(platform, "user", root, home)
    (root / "usr/OFX/Plugins/Other.ofx.bundle").mkdir(parents=True)
    (root / "usr/OFX/Plugins/Other.ofx.bundle/keep").write_text("another plugin")
    layout.engine_command_file().parent.parent.mkdir(parents=True, exist_ok=True)
    layout.place(layout.cache_dir()).parent.mkdir(parents=True, exist_ok=True)
    data = {"models": layout.place(layout.data_dir() / "models"), "cache": layout.place(layout.cache_dir())}
    return root, layout, data


def _make_user_data(data: dict[str, Path]) -> None:
    (data["models"] / "mine").mkdir(parents=True)
    (data["models"] / "mine" / "dcvsr.json").write_text("{}")
    data["cache"].mkdir(parents=True)
    (data["cache"] / "entry").write_bytes(b"cached")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_install_upgrade_uninstall_keeps_only_user_data(tmp_path, bundle, platform):
    root, layout, data = _home_root(tmp_path, platform)
    before = snapshot(root)
    env = fake_env(Path("/home/ada"))
    args = install_args(platform, "user", root, bundle)
    dcvsr("install", *args, env=env)
    # An upgrade from a release that wrote a file this one no longer does: the stale file goes.
    stale = layout.ofx_dir() / "DCVSR.ofx.bundle" / "Contents" / "Resources" / "old-icon.png"
    stale.write_bytes(b"old")
    manifest = layout.manifest()
    entry = f'{{"path": "{stale}", "sha256": "0", "mode": 420}},'
    manifest.write_text(manifest.read_text().replace('"files": [', '"files": [' + entry))
    assert dcvsr("install", *args, env=env).stdout.startswith("upgrading")
    assert not stale.exists()
    _make_user_data(data)
    out = dcvsr("uninstall", "--platform", platform, "--user", "--prefix", str(root), env=env).stdout
    assert "kept user data" in out
    after = snapshot(root)
    assert {k: v for k, v in after.items() if k in before} == before
    data_dir = str(layout.place(layout.data_dir()).relative_to(root))
    cache_dir = str(data["cache"].relative_to(root))
    extra = set(after) - set(before)
    # Left: the user data and the folders holding it (which install made, but which are not empty now).
    assert extra and all(Path(data_dir).is_relative_to(k) or k.startswith((data_dir + "/models", cache_dir))
                         for k in extra), extra


@pytest.mark.parametrize("platform", PLATFORMS)
def test_uninstall_purge_removes_user_data(tmp_path, bundle, platform):
    root, _, data = _home_root(tmp_path, platform)
    before = snapshot(root)
    env = fake_env(Path("/home/ada"))
    dcvsr("install", *install_args(platform, "user", root, bundle), env=env)
    _make_user_data(data)
    dcvsr("uninstall", "--purge", "--platform", platform, "--user", "--prefix", str(root), env=env)
    assert snapshot(root) == before


def test_install_then_uninstall_is_byte_identical(tmp_path, bundle):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("fixture\n")
    before = snapshot(root)
    env = fake_env(Path("/home/ada"))
    for _ in range(2):  # install, then upgrade in place
        dcvsr("install", *install_args("linux", "system", root, bundle), env=env)
    assert snapshot(root) != before
    dcvsr("uninstall", "--platform", "linux", "--system", "--prefix", str(root), env=env)
    assert snapshot(root) == before


def test_dry_run_writes_nothing(tmp_path, bundle):
    root = tmp_path / "root"
    root.mkdir()
    env = fake_env(Path("/home/ada"))
    out = dcvsr("install", "--dry-run", *install_args("linux", "system", root, bundle), env=env).stdout
    assert "would write" in out and "DCVSR.ofx" in out
    assert list(root.iterdir()) == []
    dcvsr("install", *install_args("linux", "system", root, bundle), env=env)
    before = snapshot(root)
    out = dcvsr("uninstall", "--dry-run", "--purge", "--platform", "linux", "--system", "--prefix", str(root),
                env=env).stdout
    assert "would remove" in out
    assert snapshot(root) == before


def test_refusals(tmp_path, bundle):
    env = fake_env(Path("/home/ada"))
    root = tmp_path / "root"
    missing = dcvsr("install", *install_args("linux", "user", root, bundle), env=env, check=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    root.mkdir()
    # Another layout installed earlier.
    dcvsr("install", *install_args("linux", "user", root, bundle), env=env)
    other = dcvsr("install", *install_args("linux", "system", root, bundle), env=env, check=False)
    assert other.returncode == 2 and "another layout" in other.stderr and "uninstall --user" in other.stderr
    dcvsr("uninstall", "--platform", "linux", "--user", "--prefix", str(root), env=env)
    # A bundle copied by hand, not by dcvsr install, is not overwritten.
    manual = root / "usr/OFX/Plugins/DCVSR.ofx.bundle/Contents/Linux-x86-64/DCVSR.ofx"
    manual.parent.mkdir(parents=True)
    manual.write_bytes(b"copied by hand")
    before = snapshot(root)
    theirs = dcvsr("install", *install_args("linux", "system", root, bundle), env=env, check=False)
    assert theirs.returncode == 2 and "not installed by `dcvsr install`" in theirs.stderr
    assert snapshot(root) == before  # nothing was written
    # Another platform's layout without a fake root; an unknown host.
    foreign = "windows" if sys.platform.startswith("linux") else "linux"
    real = dcvsr("install", "--platform", foreign, "--dry-run", env=env, check=False)
    assert real.returncode == 2 and "--prefix" in real.stderr
    bad = dcvsr("install", "--hosts", "ofx,resolve", "--prefix", str(root), env=env, check=False)
    assert bad.returncode == 2 and "ofx, vapoursynth, service" in bad.stderr
    nothing = dcvsr("uninstall", "--prefix", str(tmp_path), env=env, check=False)
    assert nothing.returncode == 2 and "nothing to uninstall" in nothing.stderr


def test_hosts_not_present_are_skipped_unless_named(tmp_path, bundle):
    root = tmp_path / "root"
    root.mkdir()
    env = fake_env(Path("/home/ada"))
    out = dcvsr("install", "--platform", "linux", "--system", "--prefix", str(root), "--ofx-bundle",
                str(bundle), "--vapoursynth-python", sys.executable, env=env).stdout
    assert "skipped OpenFX" in out
    assert not (root / "usr/OFX").exists()


def test_system_folder_without_permission_suggests_user(tmp_path, bundle):
    """A real refusal: the install runs as a user who may not write the fake root's system folders."""
    env = fake_env(Path("/nonexistent-home"))
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv to drop privileges")
        drop = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        # Somewhere the unprivileged user can read (pytest's folders are private to root).
        base = Path(tempfile.mkdtemp(prefix="dcvsr-perm-", dir="/tmp"))
        base.chmod(0o755)
    else:
        drop, base = [], tmp_path
    try:
        shutil.copytree(bundle, base / "DCVSR.ofx.bundle")
        root = base / "root"
        root.mkdir(mode=0o755)
        if not drop:
            root.chmod(0o555)
        command = [*drop, sys.executable, "-m", "dcvsr_engine.cli", "install",
                   *install_args("linux", "system", root, base / "DCVSR.ofx.bundle")]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=base)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "no permission to write" in result.stderr and "--user" in result.stderr
        assert list(root.iterdir()) == []
    finally:
        if drop:
            shutil.rmtree(base)


def test_service_definitions_quote_paths_with_spaces():
    command = ["/opt/my tools/python", "-m", "dcvsr_engine.server", "serve"]
    assert 'ExecStart="/opt/my tools/python" "-m"' in service.systemd_unit(command)
    assert plistlib.loads(service.launchd_plist(command, Path("/tmp/x.log")))["ProgramArguments"] == command
    task = ET.fromstring(service.windows_task(["C:\\Program Files\\Py\\python.exe", "-m", "x", "a b"]))
    assert task.find(f"{TASK}Actions/{TASK}Exec/{TASK}Arguments").text == '-m x "a b"'


def test_engine_command_file_round_trip(tmp_path, monkeypatch):
    from dcvsr_client import autostart

    command = ["/opt/dcvsr env/bin/python", "-m", "dcvsr_engine.server"]
    path = tmp_path / "engine-command"
    path.write_text(engine_command_file.render(command))
    assert path.read_text().count("\n") == 1
    monkeypatch.delenv("DCVSR_ENGINE_CMD", raising=False)
    monkeypatch.setenv("DCVSR_ENGINE_COMMAND_FILE", str(path))
    assert autostart.engine_command() == command
    path.write_text("\n")
    with pytest.raises(Exception, match="no command"):
        autostart.engine_command()


def test_ofx_bundle_loads_in_test_host(tmp_path):
    """The bundle the package carries (built by setup.py's hook), installed into a fake root, loads in the
    project's test OpenFX host, and its C client starts the engine through the engine command file."""
    from dcvsr_install.ofx import packaged_bundle

    root = Path(__file__).resolve().parents[1]
    if not (root / "tests" / "ofx_host" / "host.c").is_file() or packaged_bundle() is None:
        pytest.skip("needs the OpenFX effect (ofx_bridge/effect, built into the package by setup.py) and the "
                    "test OpenFX host (tests/ofx_host) of issue 13, which have not landed on this branch")
    from tests.engine_process import short_runtime_dir
    from tests.ofx_build import TEST_BIN, make

    make("tests")
    prefix = tmp_path / "root"
    prefix.mkdir()
    dcvsr("install", "--hosts", "ofx", "--user", "--prefix", str(prefix), env=fake_env(Path("/home/ada")))
    home = prefix / "home/ada"
    bundle = layout_for("linux", "user", prefix, Path("/home/ada")).ofx_dir() / "DCVSR.ofx.bundle"
    host = [str(TEST_BIN / "ofx_host"), str(bundle), str(tmp_path / "out")]
    described = subprocess.run([*host, "--describe-only"], capture_output=True, text=True, timeout=60)
    assert described.returncode == 0, described.stdout + described.stderr
    runtime = short_runtime_dir()
    env = {k: v for k, v in fake_env(home).items() if k != "DCVSR_AUTOSTART"}
    env.update(DCVSR_RUNTIME_DIR=str(runtime), DCVSR_RENDERER="dcvsr_engine.server.noop:NoOpRenderer")
    try:
        rendered = subprocess.run([*host, "--size", "16", "12", "--frames-in-clip", "3", "--render", "1"],
                                  capture_output=True, text=True, timeout=120, env=env)
    finally:
        subprocess.run([sys.executable, "-m", "dcvsr_engine.cli", "stop"], env=env, capture_output=True,
                       timeout=60)
        shutil.rmtree(runtime, ignore_errors=True)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    assert (tmp_path / "out").stat().st_size > 0


def test_real_layout_dry_run_names_the_commands_and_writes_nothing(tmp_path):
    """Without --prefix: this machine's own layout, in a home of the test's; --dry-run changes nothing."""
    env = {k: v for k, v in fake_env(tmp_path).items() if k != "DCVSR_AUTOSTART"}
    out = dcvsr("install", "--hosts", "service", "--dry-run", env=env).stdout
    if sys.platform.startswith("linux"):
        assert f"would write {tmp_path}/.config/systemd/user/dcvsr-engine.service" in out
        assert "would run systemctl --user enable --now dcvsr-engine.service" in out
    assert f"would write the manifest {tmp_path}" in out
    assert list(tmp_path.iterdir()) == []


def _python_312() -> str | None:
    """A CPython 3.12+ here (VapourSynth's wheels, which carry vspipe, start at 3.12), or None."""
    names = ["python3.13", "python3.12"]
    candidates = [shutil.which(n) for n in names]
    candidates += sorted(str(p) for p in (Path.home() / ".pyenv" / "versions").glob("3.1[2-9]*/bin/python3"))
    for python in filter(None, candidates):
        try:
            ok = subprocess.run([python, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"],
                                capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            continue
        if ok:
            return python
    return None


def test_vapoursynth_python_is_asked_of_vspipe(tmp_path):
    """vspipe names the Python it embeds (after `vapoursynth config`, as VapourSynth R74+ wants); the plugin
    goes into that Python's site-packages under the fake root, and imports there."""
    python = _python_312()
    if python is None:
        pytest.skip("no CPython 3.12+ here: VapourSynth's wheels (with vspipe) start at 3.12")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in fake_env(home).items() if k != "PYTHONPATH"}
    env["PIP_CACHE_DIR"] = os.environ.get("DCVSR_TEST_PIP_CACHE", str(Path.home() / ".cache/dcvsr/test-pip"))
    venv = tmp_path / "vs"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120, env=env)
    pip = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-compile",
                          "vapoursynth>=74", "numpy"], capture_output=True, text=True, timeout=300, env=env)
    if pip.returncode != 0:
        pytest.skip(f"cannot install vapoursynth for {python}: {pip.stderr[-300:]}")
    subprocess.run([str(venv / "bin/vapoursynth"), "config"], check=True, capture_output=True, timeout=60,
                   env=env)  # writes HOME/.config/vapoursynth: which Python vspipe embeds
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    root = tmp_path / "root"
    root.mkdir()
    out = dcvsr("install", "--hosts", "vapoursynth", "--prefix", str(root), env=env).stdout
    purelib = subprocess.run([str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True, timeout=60).stdout.strip()
    site = root / Path(purelib).relative_to("/")
    assert (site / "dcvsr-host.pth").is_file(), out
    check = ("import site, sys; site.addsitedir(sys.argv[1]); import vsdcvsr.filter, vsdcvsr.check; "
             "sys.exit(vsdcvsr.check.main(['--no-start']))")
    result = subprocess.run([str(venv / "bin/python"), "-c", check, str(site)], capture_output=True,
                            text=True, timeout=120, env=env)
    assert "vapoursynth: ok" in result.stdout and "client: ok" in result.stdout, result.stdout + result.stderr
    dcvsr("uninstall", "--prefix", str(root), env=env)
    assert list(root.iterdir()) == []
