"""Loopback TCP, the transport Windows hosts use, selected on Linux by the runtime folder's
`transport` file (or DCVSR_TRANSPORT): the engine, the Python client and the C client over it."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from dcvsr_client import Client
from dcvsr_protocol import Code, Kind, Message, decode_payload, encode, endpoint
from dcvsr_protocol.errors import EngineStartError
from dcvsr_protocol.transport.connection import read_raw

from tests.engine_process import EngineProcess, short_runtime_dir
from tests.test_ofx_client import NOOP_SETTINGS, c_frames, python_frames, source_frame

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def tcp_engine():
    directory = short_runtime_dir()
    (directory / endpoint.TRANSPORT_NAME).write_text("tcp\n")
    with EngineProcess(directory) as engine:
        yield engine


@pytest.fixture(scope="module")
def c_programs():
    from tests.ofx_build import make

    make("tests")


def test_engine_publishes_a_loopback_port(tcp_engine):
    port = endpoint.read_port(tcp_engine.directory)
    assert port is not None
    assert (tcp_engine.directory / endpoint.PORT_NAME).stat().st_mode & 0o077 == 0
    with socket.create_connection((endpoint.LOOPBACK, port), timeout=5) as sock:
        assert sock.getpeername()[0] == "127.0.0.1"


def test_python_client_over_tcp_gets_the_shm_pixels(tcp_engine):
    with Client.connect(tcp_engine.directory, autostart=False) as client:
        assert client.transport == "tcp" and client.sock.family == socket.AF_INET
    over_tcp = python_frames(tcp_engine, 20, 12, 10, 2, 8, transport=None)
    over_shm = python_frames(tcp_engine, 20, 12, 10, 2, 8, transport="shm")
    assert np.array_equal(over_tcp, over_shm)


def test_c_client_over_tcp_gets_the_python_pixels(tcp_engine, c_programs, tmp_path):
    expected = python_frames(tcp_engine, 24, 16, 12, 3, 9, transport=None)
    got, report = c_frames(tcp_engine.directory, "tcp", 24, 16, 12, 3, 9, tmp_path)
    assert np.array_equal(got, expected)
    # Inline: every source frame sent and every output frame received through the socket.
    counts = dict(zip(*[iter(report.split()[1:])] * 2, strict=False))
    assert int(counts["inline_received"]) == 6 * 32 * 48 * 3 * 4
    assert int(counts["inline_sent"]) == int(counts["source_copied"]) > 0


def test_wrong_token_over_tcp_is_refused(tcp_engine):
    """Over TCP anyone on the machine can connect: the token is what keeps other users out."""
    sock = endpoint.connect(tcp_engine.directory, timeout=5)
    sock.sendall(encode(Message(Kind.HELLO, 1, {"versions": [1], "token": "0" * 64, "client": "intruder"})))
    header, payload = read_raw(sock, 1 << 20)
    reply = decode_payload(header, payload)
    assert reply.kind == Kind.ERROR and reply["code"] == Code.UNAUTHORIZED
    assert sock.recv(1) == b""  # and the connection is closed
    sock.close()


def test_session_over_tcp_is_inline(tcp_engine):
    with Client.connect(tcp_engine.directory, autostart=False) as client:
        session = client.open("t", 8, 8, 4, dtype="f32", settings=NOOP_SETTINGS)
        assert session.transport == "inline"
        frame = session.frame(1, lambda i: source_frame(i, 8, 8))
        assert frame.shape == (16, 16, 3)
        session.close()


def test_unknown_transport_is_named(tmp_path, monkeypatch):
    directory = tmp_path / "rt"
    directory.mkdir(mode=0o700)
    monkeypatch.setenv("DCVSR_TRANSPORT", "pigeon")
    with pytest.raises(endpoint.TransportError, match="pigeon"):
        Client.connect(directory, autostart=False)


def test_no_tcp_engine_and_autostart_off_says_where_it_looked(tmp_path):
    directory = tmp_path / "rt"
    directory.mkdir(mode=0o700)
    (directory / endpoint.TRANSPORT_NAME).write_text("tcp")
    with pytest.raises(EngineStartError, match="loopback TCP"):
        Client.connect(directory, autostart=False)


def test_port_file_is_removed_when_the_engine_stops():
    directory = short_runtime_dir()
    (directory / endpoint.TRANSPORT_NAME).write_text("tcp")
    with EngineProcess(directory) as engine:
        assert endpoint.read_port(directory) is not None
        engine.stop()
        assert endpoint.read_port(directory) is None
