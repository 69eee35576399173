"""The OpenFX bridge's C client: the byte-exact vectors, a sanitized fuzz of its parser, and
renders against a real engine compared with the Python client's."""

from __future__ import annotations

import json
import os
import shlex
import struct
import subprocess

import numpy as np
import pytest
from dcvsr_protocol.colour import ColourTags

from tests.engine_process import EngineProcess
from tests.ofx_build import TEST_BIN, make
from tests.test_protocol_vectors import MESSAGE_VECTORS, REJECT_VECTORS, VECTORS, from_json, same

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module", autouse=True)
def c_programs():
    make("tests")


def run(*args: str, stdin: str | None = None, timeout: float = 60,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = env or dict(os.environ, DCVSR_AUTOSTART="0")
    return subprocess.run([str(a) for a in args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env)


# ---- tokens: the C test program's text form of a decoded value ----
def to_tokens(value, out: list[str]) -> None:
    if value is True:
        out.append("t")
    elif value is False:
        out.append("F")
    elif value is None:
        out.append("z")
    elif isinstance(value, int):
        out.append(f"u {value}" if value >= 0 else f"n {-1 - value}")
    elif isinstance(value, float):
        out.append(f"f {struct.unpack('>Q', struct.pack('>d', value))[0]:016x}")
    elif isinstance(value, str):
        out.append(f"s {value.encode().hex()}")
    elif isinstance(value, (bytes, bytearray)):
        out.append(f"b {bytes(value).hex()}")
    elif isinstance(value, list):
        out.append(f"a {len(value)}")
        for item in value:
            to_tokens(item, out)
    elif isinstance(value, dict):
        out.append(f"m {len(value)}")
        for key, item in value.items():  # in the JSON's order: the C encoder must sort them
            to_tokens(key, out)
            to_tokens(item, out)
    else:
        raise TypeError(type(value))


def from_tokens(lines: list[str]):
    head = lines.pop(0)
    kind, _, arg = head.partition(" ")
    if kind == "u":
        return int(arg)
    if kind == "n":
        return -1 - int(arg)
    if kind == "f":
        return struct.unpack(">d", int(arg, 16).to_bytes(8, "big"))[0]
    if kind in "tFz":
        return {"t": True, "F": False, "z": None}[kind]
    if kind == "s":
        return bytes.fromhex(arg).decode()
    if kind == "b":
        return bytes.fromhex(arg)
    if kind == "a":
        return [from_tokens(lines) for _ in range(int(arg))]
    if kind == "m":
        pairs = [(from_tokens(lines), from_tokens(lines)) for _ in range(int(arg))]
        return dict(pairs)
    raise ValueError(head)


@pytest.mark.parametrize("name", MESSAGE_VECTORS)
def test_c_decodes_vector(name):
    expected = json.loads((VECTORS / f"{name}.json").read_text())
    result = run(TEST_BIN / "vectors", "decode", VECTORS / f"{name}.bin")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = dict(line.split(" ", 1) for line in lines[:6])
    assert header["kind"] == expected["kind"] and int(header["kind_code"]) == expected["kind_code"]
    for key in ("version", "flags", "request", "length"):
        assert int(header[key]) == expected[key], key
    payload = from_tokens(lines[6:])
    assert same(payload, from_json(expected["payload"]))


@pytest.mark.parametrize("name", MESSAGE_VECTORS)
def test_c_encodes_vector(name):
    expected = json.loads((VECTORS / f"{name}.json").read_text())
    tokens: list[str] = []
    to_tokens(from_json(expected["payload"]), tokens)
    result = run(TEST_BIN / "vectors", "encode", expected["kind"], str(expected["request"]),
                 stdin="\n".join(tokens) + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert bytes.fromhex(result.stdout.strip()) == (VECTORS / f"{name}.bin").read_bytes()


@pytest.mark.parametrize("name", REJECT_VECTORS)
def test_c_rejects_vector(name):
    code = json.loads((VECTORS / f"{name}.json").read_text())["code"]
    result = run(TEST_BIN / "vectors", "check", VECTORS / f"{name}.bin")
    assert result.stdout.strip() == (code or "OK"), result.stderr


def test_c_slot_header_vector():
    expected = json.loads((VECTORS / "slot_header.json").read_text())
    result = run(TEST_BIN / "vectors", "slot", VECTORS / "slot_header.bin")
    assert dict((k, int(v)) for k, v in (line.split() for line in result.stdout.splitlines())) == expected
    lines = "".join(f"{k} {v}\n" for k, v in expected.items())
    packed = run(TEST_BIN / "vectors", "slot-pack", stdin=lines)
    assert bytes.fromhex(packed.stdout.strip()) == (VECTORS / "slot_header.bin").read_bytes()


def test_c_encoder_refuses_what_the_protocol_cannot_carry():
    # A repeated key and a NaN: the C encoder says so instead of writing a non-canonical message.
    nan = "f 7ff8000000000000"
    for tokens in (["m 2", "s 61", "u 1", "s 61", "u 2"], ["m 1", "s 61", nan]):
        result = run(TEST_BIN / "vectors", "encode", "STATUS", "1", stdin="\n".join(tokens) + "\n")
        assert result.returncode == 1 and result.stdout.startswith("error"), result.stdout


def test_c_parser_fuzz_under_sanitizers():
    """Malformed, truncated and oversized messages: an error code each, never a crash (ASan, UBSan)."""
    seeds = sorted(str(p) for p in VECTORS.glob("*.bin"))
    result = run(TEST_BIN / "fuzz", "300000", *seeds, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    counts = dict(zip(*[iter(result.stdout.split())] * 2, strict=True))
    assert int(counts["accepted"]) > 0 and int(counts["rejected"]) > 0


# ---- against a real engine ----
def source_frame(frame: int, width: int, height: int) -> np.ndarray:
    y, x, c = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    return (((7 * frame + 3 * x + 5 * y + 11 * c) % 256) / np.float32(255)).astype(np.float32)


NOOP_SETTINGS = {"scale": 2, "radius": 2, "blend": True}


@pytest.fixture(scope="module")
def noop_engine():
    with EngineProcess() as engine:
        yield engine


def python_frames(engine, width, height, frames, start, stop, transport="shm") -> np.ndarray:
    with engine.connect() as client:
        session = client.open("py-render-test", width, height, frames, dtype="f32", channels=3,
                              colour=ColourTags(1, 1, 1, 1),
                              settings=NOOP_SETTINGS, transport=transport)
        out = [array for _i, array in session.render(start, stop, lambda i: source_frame(i, width, height))]
        session.close()
    return np.stack(out)


def c_frames(directory, transport, width, height, frames, start, stop, tmp_path) -> tuple[np.ndarray, str]:
    out = tmp_path / f"c_{transport}.f32"
    settings = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in NOOP_SETTINGS.items()]
    result = run(TEST_BIN / "render", directory, transport, width, height, frames, start, stop, out,
                 *settings)
    assert result.returncode == 0, result.stdout + result.stderr
    pixels = np.fromfile(out, dtype="<f4").reshape(stop - start, 2 * height, 2 * width, 3)
    return pixels, result.stdout


def test_c_client_renders_what_the_python_client_gets_over_shm(noop_engine, tmp_path):
    expected = python_frames(noop_engine, 24, 16, 12, 3, 9)
    got, report = c_frames(noop_engine.directory, "unix", 24, 16, 12, 3, 9, tmp_path)
    assert np.array_equal(got, expected)
    assert "transport unix" in report and "inline_sent 0 " in report


def test_c_client_errors_name_the_problem(noop_engine, tmp_path):
    out = tmp_path / "x.f32"
    bad_range = run(TEST_BIN / "render", noop_engine.directory, "unix", 8, 8, 4, 2, 9, out)
    assert bad_range.returncode == 1 and "BAD_RANGE" in bad_range.stdout
    bad_settings = run(TEST_BIN / "render", noop_engine.directory, "unix", 8, 8, 4, 0, 1, out, "scale=nine")
    assert bad_settings.returncode == 1 and "BAD_SETTINGS" in bad_settings.stdout


def test_c_client_without_engine_and_autostart_off(tmp_path):
    directory = tmp_path / "rt"
    directory.mkdir(mode=0o700)
    result = run(TEST_BIN / "render", directory, "unix", 8, 8, 4, 0, 1, tmp_path / "x.f32", timeout=30)
    assert result.returncode == 1 and "no dcvsr engine is running" in result.stdout


def test_c_client_starts_an_engine_when_none_runs(tmp_path):
    """The same rules as the Python client: DCVSR_ENGINE_CMD run in a new session, polled until ready."""
    from dcvsr_client import Client

    from tests.engine_process import child_env, engine_command, short_runtime_dir

    directory = short_runtime_dir()
    env = child_env(directory, DCVSR_ENGINE_CMD=shlex.join(engine_command()), DCVSR_AUTOSTART="1")
    try:
        result = run(TEST_BIN / "render", directory, "unix", 8, 8, 4, 0, 2, tmp_path / "x.f32", env=env,
                     timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert (directory / "engine.pid").exists()
    finally:
        with Client.connect(directory, autostart=False) as client:
            client.stop()


def test_c_client_reports_an_engine_that_cannot_start(tmp_path):
    directory = tmp_path / "rt"
    directory.mkdir(mode=0o700)
    env = dict(os.environ, DCVSR_ENGINE_CMD="sh -c 'echo model folder is broken >&2; exit 3'",
               DCVSR_AUTOSTART="1")
    result = run(TEST_BIN / "render", directory, "unix", 8, 8, 4, 0, 1, tmp_path / "x.f32", env=env)
    assert result.returncode == 1
    assert "exited with status 3" in result.stdout and "model folder is broken" in result.stdout


@pytest.mark.parametrize("where", ["named", "user"])
def test_c_client_reads_the_engine_command_file(tmp_path, where):
    """The file `dcvsr install` writes, found by engine_command_file.py's rules: the named one, else the
    user's, else the system's (not tested: it is /etc/dcvsr). PATH holds no `dcvsr`, so only the file
    can name this command."""
    directory = tmp_path / "rt"
    directory.mkdir(mode=0o700)
    command_file = tmp_path / "config" / "dcvsr" / "engine-command"
    command_file.parent.mkdir(parents=True)
    command_file.write_text("sh -c 'echo started from the file >&2; exit 4'\nignored second line\n")
    env = {k: v for k, v in os.environ.items() if k != "DCVSR_ENGINE_CMD"}
    env.update(DCVSR_AUTOSTART="1", PATH="/usr/bin:/bin", XDG_CONFIG_HOME=str(tmp_path / "config"))
    if where == "named":
        env["DCVSR_ENGINE_COMMAND_FILE"] = str(command_file)
        env["XDG_CONFIG_HOME"] = str(tmp_path / "elsewhere")
    result = run(TEST_BIN / "render", directory, "unix", 8, 8, 4, 0, 1, tmp_path / "x.f32", env=env)
    assert result.returncode == 1
    assert "exited with status 4" in result.stdout and "started from the file" in result.stdout
    assert str(command_file) in result.stdout


def test_c_client_names_an_engine_command_file_without_a_command(tmp_path):
    directory = tmp_path / "rt"
    directory.mkdir(mode=0o700)
    command_file = tmp_path / "engine-command"
    command_file.write_text("\n")
    env = {k: v for k, v in os.environ.items() if k != "DCVSR_ENGINE_CMD"}
    env.update(DCVSR_AUTOSTART="1", PATH="/usr/bin:/bin", DCVSR_ENGINE_COMMAND_FILE=str(command_file))
    result = run(TEST_BIN / "render", directory, "unix", 8, 8, 4, 0, 1, tmp_path / "x.f32", env=env)
    assert result.returncode == 1
    assert f"engine command file {command_file}: the first line holds no command" in result.stdout
