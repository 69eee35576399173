"""Finding and removing the shared-memory segments of engines that died.

Segment names carry the creating engine's pid (dcvsr_protocol.transport.shm).
Each engine also lists the names it creates in <runtime dir>/shm.<pid>, which
works where /dev/shm cannot be listed (macOS). At start an engine removes the
segments of every engine of this user that is no longer alive.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from pathlib import Path

from dcvsr_protocol.transport import shm

log = logging.getLogger("dcvsr.server")
_SHM_DIR = "/dev/shm"


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _stale(pid: int) -> bool:
    return pid == os.getpid() or not alive(pid)  # our own pid here can only be a reused one


def remove_stale(directory: Path) -> list[str]:
    """Remove the segments (and records) of dead engines; returns the names removed."""
    removed: list[str] = []
    for record in directory.glob("shm.*"):
        suffix = record.name.partition(".")[2]
        if not suffix.isdigit() or not _stale(int(suffix)):
            continue
        try:
            names = record.read_text().split()
        except OSError:
            names = []
        removed += [name for name in names if shm.unlink(name)]
        record.unlink(missing_ok=True)
    if os.path.isdir(_SHM_DIR):
        uid = os.getuid()
        for entry in os.scandir(_SHM_DIR):
            pid = shm.owner_pid(entry.name)
            try:
                if pid is not None and entry.stat().st_uid == uid and _stale(pid) and shm.unlink(entry.name):
                    removed.append(entry.name)
            except OSError:
                continue
    if removed:
        log.info("removed %d segment(s) left by dead engines: %s", len(removed), " ".join(removed))
    return removed


class SegmentNames:
    """Hands out this engine's segment names and records them for the next engine's cleanup."""

    def __init__(self, directory: Path) -> None:
        self.pid = os.getpid()
        self.record = directory / f"shm.{self.pid}"
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def new(self) -> str:
        with self._lock:
            name = shm.segment_name(self.pid, next(self._numbers))
            fd = os.open(self.record, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, (name + "\n").encode())
            finally:
                os.close(fd)
            return name

    def forget_all(self) -> None:
        """At a clean exit, after every segment was unlinked."""
        self.record.unlink(missing_ok=True)
