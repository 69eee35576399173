"""POSIX shared-memory segments: the engine creates them, clients map them without adopting them.

`SharedMemory` has the shape of `multiprocessing.shared_memory.SharedMemory` (a name, a size, a
buffer, close, unlink) and is the one place that touches that module's internals (`_fd`, `_name`,
`_posixshmem`, the resource tracker); everything else goes through it.

- The engine's side (`create`) is never mapped: the engine reads and writes its segments with
  pread/pwrite on the descriptor. A client can ftruncate() a segment it mapped (it opened it
  read-write to write source pixels, and it is the same user); a mapping of the shrunk segment
  faults with SIGBUS on the next access, which would kill the engine and every client with it.
  System calls on a descriptor never fault: a read past the end comes back short and is refused
  (`SegmentResized`). Checking the size before each access through a mapping would not do: the
  client can shrink the segment between the check and the access.
- Names carry the engine's pid (for cleanup after a crash) and 48 random bits, and are created
  with O_EXCL, a new name on a collision: another local user cannot make an OPEN fail by creating
  the next name first.
- Clients (`attach`) map the segment. Before 3.13, attaching registers the segment with this
  process's resource tracker, which would unlink the engine's segment when the client exits, so it
  is unregistered.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable
from multiprocessing import shared_memory

from ..errors import DCVSRClientError

PREFIX = "dcvsr_"  # names are PREFIX + "<engine pid>_<12 hex digits>": at most 31 characters for macOS
_CREATE_ATTEMPTS = 16


class SegmentResized(DCVSRClientError):
    """A segment is smaller than its slots: someone truncated it."""


def segment_name(pid: int) -> str:
    """A fresh, unpredictable name for a segment of engine `pid`."""
    return f"{PREFIX}{pid}_{secrets.token_hex(6)}"


def owner_pid(name: str) -> int | None:
    """The engine pid a segment name carries, or None if the name is not ours."""
    name = name.lstrip("/")
    if not name.startswith(PREFIX):
        return None
    pid, sep, _rest = name[len(PREFIX):].partition("_")
    return int(pid) if sep and pid.isdigit() else None


class SharedMemory:
    """One segment: created unmapped by the engine (`create`), or mapped by a client (`attach`)."""

    def __init__(self, name: str, size: int, fd: int = -1,
                 mapping: shared_memory.SharedMemory | None = None) -> None:
        self.name, self.size = name, size
        self._fd, self._mapping = fd, mapping

    # -- the engine's side ----------------------------------------------------------------------
    @classmethod
    def create(cls, names: Callable[[], str], size: int) -> SharedMemory:
        """A new owner-only segment of `size` bytes under the first free name `names()` gives, its
        pages reserved (a full /dev/shm fails here with MemoryError, not as SIGBUS later)."""
        import _posixshmem  # what multiprocessing.shared_memory itself uses

        for _ in range(_CREATE_ATTEMPTS):
            name = names().lstrip("/")
            try:
                fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
                break
            except FileExistsError:  # taken (by chance or by someone else): another name
                continue
        else:
            raise FileExistsError(f"{_CREATE_ATTEMPTS} segment names in a row were taken")
        segment = cls(name, size, fd)
        try:
            if sys.platform != "darwin":  # macOS refuses fchmod on shm descriptors; shm_open used 0600
                os.fchmod(fd, 0o600)
            os.ftruncate(fd, size)
            if hasattr(os, "posix_fallocate"):
                try:
                    os.posix_fallocate(fd, 0, size)
                except OSError as e:
                    raise MemoryError(f"not enough shared memory for {size / 2**20:.0f} MiB of slots ({e}); "
                                      "free some, enlarge /dev/shm or use the inline transport") from e
        except BaseException:
            segment.unlink()
            segment.close()
            raise
        return segment

    def read(self, offset: int, out: memoryview | bytearray) -> None:
        """Fill `out` from the segment at `offset`; SegmentResized if the segment ends before."""
        want = memoryview(out).nbytes
        got = os.preadv(self._fd, [out], offset) if want else 0
        if got != want:
            raise SegmentResized(f"segment {self.name} was truncated (read {got} of {want} bytes at "
                                 f"{offset}); it must stay {self.size} bytes")

    def write(self, offset: int, data: memoryview | bytes) -> None:
        """Write `data` at `offset`; SegmentResized if the segment no longer reaches that far."""
        data = memoryview(data).cast("B")
        if os.fstat(self._fd).st_size < offset + data.nbytes:  # a write would only grow it back: say why
            raise SegmentResized(f"segment {self.name} was truncated; it must stay {self.size} bytes")
        while data.nbytes:
            written = os.pwrite(self._fd, data, offset)
            data, offset = data[written:], offset + written

    # -- the client's side ----------------------------------------------------------------------
    @classmethod
    def attach(cls, name: str) -> SharedMemory:
        """Map an existing segment without letting this process's resource tracker adopt it."""
        if sys.version_info >= (3, 13):
            mapping = shared_memory.SharedMemory(name=name, track=False)
        else:
            mapping = shared_memory.SharedMemory(name=name)
            from multiprocessing import resource_tracker

            resource_tracker.unregister(mapping._name, "shared_memory")  # type: ignore[attr-defined]
        return cls(mapping.name, mapping.size, mapping=mapping)

    @property
    def buf(self) -> memoryview:
        """The mapping (attached segments only)."""
        if self._mapping is None:
            raise ValueError(f"segment {self.name} is not mapped here")
        return self._mapping.buf

    # -- both -----------------------------------------------------------------------------------
    def close(self) -> None:
        """Unmap or close the descriptor; if arrays still view the mapping, leave it to the garbage
        collector."""
        if self._mapping is not None:
            try:
                self._mapping.close()
            except BufferError:
                pass
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def unlink(self) -> None:
        """Remove the name (mappings elsewhere stay valid until unmapped)."""
        remove(self.name)


def remove(name: str) -> bool:
    """Remove a segment by name (no mapping needed). False if it was already gone."""
    import _posixshmem

    try:
        _posixshmem.shm_unlink("/" + name.lstrip("/"))
        return True
    except FileNotFoundError:
        return False
