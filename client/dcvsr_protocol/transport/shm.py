"""Shared-memory segments: the engine creates them, clients attach without adopting them.

Before 3.13, attaching with multiprocessing.shared_memory registers the segment
with this process's resource tracker, which would unlink the engine's segment
when the client exits; clients therefore unregister right after attaching.
"""

from __future__ import annotations

import os
import sys
from multiprocessing import shared_memory

PREFIX = "dcvsr_"  # names are PREFIX + "<engine pid>_<n>": at most 31 characters for macOS


def segment_name(pid: int, number: int) -> str:
    return f"{PREFIX}{pid}_{number:x}"


def owner_pid(name: str) -> int | None:
    """The engine pid a segment name carries, or None if the name is not ours."""
    name = name.lstrip("/")
    if not name.startswith(PREFIX):
        return None
    pid, sep, _rest = name[len(PREFIX):].partition("_")
    return int(pid) if sep and pid.isdigit() else None


def create(name: str, size: int) -> shared_memory.SharedMemory:
    """A new owner-only segment (the engine's side)."""
    shm = shared_memory.SharedMemory(name=name, create=True, size=size)
    if sys.platform != "darwin":  # macOS refuses fchmod on shm descriptors; shm_open already used 0600
        os.fchmod(shm._fd, 0o600)
    return shm


def attach(name: str) -> shared_memory.SharedMemory:
    """Map an existing segment without letting this process's resource tracker adopt it."""
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)
    shm = shared_memory.SharedMemory(name=name)
    from multiprocessing import resource_tracker

    resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
    return shm


def close_quietly(shm: shared_memory.SharedMemory) -> None:
    """Unmap; if arrays still view the mapping, leave it to the garbage collector."""
    try:
        shm.close()
    except BufferError:
        pass


def unlink(name: str) -> bool:
    """Remove a segment by name (no mapping needed). False if it was already gone."""
    try:
        import _posixshmem  # the module multiprocessing.shared_memory itself uses

        _posixshmem.shm_unlink("/" + name.lstrip("/"))
        return True
    except FileNotFoundError:
        return False
