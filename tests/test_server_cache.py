"""The frame cache can neither lie nor block: flipped bytes, FIFOs, unreadable folders, a loose umask."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from dcvsr_engine.sampler.carry import CarriedState
from dcvsr_engine.server.frame_cache import CARRY, FRAMES, HEADER_SIZE, SUBDIR, FrameCache

pytestmark = pytest.mark.timeout(60)

KEY = "cd" * 32
OTHER = "ef" * 32
FRAMES_ARRAY = np.arange(3 * 4 * 5 * 3, dtype=np.uint16).reshape(3, 4, 5, 3)


def carry() -> CarriedState:
    g = torch.Generator().manual_seed(0)
    return CarriedState(12, "k" * 16, torch.randn(2, 3, 4, 5, 6, generator=g).half(),
                        torch.randn(3, 4, 5, 6, generator=g), torch.randn(3, 8, generator=g))


def flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["first frame", "last frame", "digest table"])
def test_flipped_bytes_in_frames_are_a_miss_deleted_and_logged(tmp_path, caplog, where):
    cache = FrameCache(tmp_path, 1 << 20)
    cache.put_frames(KEY, FRAMES_ARRAY)
    path = cache.path(KEY, FRAMES)
    offset = {"first frame": -3 * 120 + 7, "last frame": -1, "digest table": HEADER_SIZE + 20}[where]
    flip(path, offset if offset > 0 else path.stat().st_size + offset)
    with caplog.at_level(logging.WARNING, "dcvsr.cache"):
        assert cache.get_frames(KEY, FRAMES_ARRAY.shape, np.uint16) is None
    assert not path.exists() and "checksum" in caplog.text
    cache.put_frames(KEY, FRAMES_ARRAY)  # the next store writes it again
    assert np.array_equal(cache.get_frames(KEY, FRAMES_ARRAY.shape, np.uint16, 2, 3), FRAMES_ARRAY[2:])


def test_a_partial_read_checks_only_its_frames(tmp_path):
    cache = FrameCache(tmp_path, 1 << 20)
    cache.put_frames(KEY, FRAMES_ARRAY)
    path = cache.path(KEY, FRAMES)
    flip(path, path.stat().st_size - 1)  # in frame 2
    assert np.array_equal(cache.get_frames(KEY, FRAMES_ARRAY.shape, np.uint16, 0, 2), FRAMES_ARRAY[:2])
    assert cache.get_frames(KEY, FRAMES_ARRAY.shape, np.uint16, 1, 3) is None
    assert not path.exists()


def test_flipped_bytes_in_a_carried_state_are_a_miss_deleted_and_logged(tmp_path, caplog):
    cache = FrameCache(tmp_path, 1 << 20)
    state = carry()
    cache.put_carry(KEY, state)
    got = cache.get_carry(KEY)
    assert torch.equal(got.trajectory, state.trajectory) and got.key == state.key
    path = cache.path(KEY, CARRY)
    flip(path, path.stat().st_size - 5)  # inside a tensor: safetensors alone would load it
    with caplog.at_level(logging.WARNING, "dcvsr.cache"):
        assert cache.get_carry(KEY) is None
    assert not path.exists() and "checksum" in caplog.text


@pytest.mark.parametrize("kind", [FRAMES, CARRY])
def test_a_fifo_in_place_of_an_entry_does_not_block(tmp_path, kind):
    cache = FrameCache(tmp_path, 1 << 20)
    cache.put_frames(OTHER, FRAMES_ARRAY)
    path = cache.path(KEY, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    result = []
    reader = threading.Thread(target=lambda: result.append(
        cache.get_frames(KEY, FRAMES_ARRAY.shape, np.uint16) if kind == FRAMES else cache.get_carry(KEY)))
    reader.start()
    reader.join(timeout=5)
    assert not reader.is_alive() and result == [None]
    assert not path.exists()  # removed: it is not an entry
    os.mkfifo(path)
    assert not cache.has(KEY, kind)
    assert cache.held_bytes() > 0 and not path.exists()  # the scan drops it too


def test_folders_and_files_are_private_whatever_the_umask(tmp_path):
    root = tmp_path / "deep" / "cache"
    script = textwrap.dedent(f"""
        import os, numpy as np
        from dcvsr_engine.server.frame_cache import FrameCache
        os.umask(0)
        cache = FrameCache({str(root)!r}, 1 << 20)
        cache.put_frames({KEY!r}, np.zeros((1, 2, 2, 3), np.uint8))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    for folder in (tmp_path / "deep", root, root / SUBDIR, root / SUBDIR / KEY[:2]):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    entry = root / SUBDIR / KEY[:2] / (KEY + FRAMES)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600


def _unreadable_checks(root, blocked: str) -> None:
    """What an engine does with a cache one part of which it cannot read: misses and logs, never raises."""
    cache = FrameCache(root, 1 << 20)
    frames = np.ones((1, 2, 2, 3), np.uint8)
    free = "12" * 32
    assert not cache.has(blocked, FRAMES)
    assert cache.get_frames(blocked, frames.shape, np.uint8) is None
    assert cache.get_carry(blocked) is None
    cache.put_frames(blocked, frames)             # skipped, logged
    cache.put_frames(free, frames)                # the rest of the cache works
    assert (cache.get_frames(free, frames.shape, np.uint8) == 1).all()
    assert cache.held_bytes() > 0                 # STATUS's figure: the readable part
    cache.evict()


def test_an_unreadable_part_of_the_cache_is_skipped_and_logged(tmp_path, caplog):
    """As `sudo -E dcvsr serve` leaves it: one prefix folder that belongs to root, mode 0700."""
    if os.getuid() == 0:  # the other user must reach the folder: not under pytest's private tmp
        tmp_path = Path(tempfile.mkdtemp(prefix="dcvsr-cache-t-"))
    root = tmp_path / "cache"
    FrameCache(root, 1 << 20).put_frames(KEY, FRAMES_ARRAY)  # makes <root>/segments-v2/cd/
    blocked = root / SUBDIR / KEY[:2]
    os.chmod(blocked, 0o700)
    if os.getuid() != 0:
        os.chmod(blocked, 0)
        try:
            with caplog.at_level(logging.WARNING, "dcvsr.cache"):
                _unreadable_checks(root, KEY)
        finally:
            os.chmod(blocked, 0o700)
        assert "Permission denied" in caplog.text
        return
    # Root reads everything: check as another user, in a forked child (the modules are loaded already).
    os.chmod(tmp_path, 0o755)
    for folder in (root, root / SUBDIR):
        os.chmod(folder, 0o777)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            handler = logging.StreamHandler(os.fdopen(write, "w", closefd=False))
            logging.getLogger("dcvsr.cache").addHandler(handler)
            _unreadable_checks(root, KEY)
            handler.flush()
            os.write(write, b"\nok")
            status = 0
        except BaseException as e:
            os.write(write, repr(e).encode())
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    shutil.rmtree(tmp_path, ignore_errors=True)
    assert status == 0 and text.endswith("ok"), text
    assert "Permission denied" in text  # logged, not raised
