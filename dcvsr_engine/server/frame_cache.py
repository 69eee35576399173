"""A disk cache of rendered segments: their output frames and their outgoing carried state.

Entries are named by content keys (see dcvsr_renderer.segment_key): the same key always means
the same bytes, so two engines may share the folder. Layout:
<dir>/segments-v2/<key[:2]>/<key>.frames and <key>.carry.

- Frames: a fixed 128-byte header (magic, key, dtype, shape, payload length), a 16-byte BLAKE2b
  digest per frame, and the frames' raw bytes in C order. No pickle. A reader checks the header
  and the file length against what it expects, reads only the frames it wants (one frame of a
  long 4K segment is one pread) and checks their digests.
- Carried state: a magic, the SHA-256 of the rest, and the state as safetensors
  (CarriedState.to_bytes).
- The cache can neither lie nor block: an entry whose digest does not match is a miss, deleted
  and logged; only regular files are opened (O_NOFOLLOW | O_NONBLOCK, then fstat: a FIFO or a
  device at an entry's name is removed, never read); a part of the folder that cannot be read
  (one left by `sudo dcvsr serve`, say) is skipped and logged, never a failed render; folders
  are created 0700 and files 0600 whatever the umask.
- Writes go to a unique temporary name in the same folder and are renamed into place, so a
  reader (in this engine or another) sees a whole entry or none.
- Bounded size: after a store pushes the (approximate) total over the limit, the folder is
  scanned and the least recently used entries (by mtime; a hit touches it) are removed down to
  90% of the limit. The total is re-read from the folder at each eviction, so entries that other
  engines add or remove are accounted for.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import secrets
import stat
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..sampler.carry import CarriedState
from ..sizes import parse_size

__all__ = ["CARRY", "FRAMES", "FrameCache", "parse_size"]

log = logging.getLogger("dcvsr.cache")

DEFAULT_MAX_BYTES = 8 << 30
SUBDIR = "segments-v2"  # v2: per-frame digests and a checksummed carry
FRAMES, CARRY = ".frames", ".carry"
_TMP = ".tmp-"
_STALE_TMP_SECONDS = 3600.0  # a temporary file this old belongs to a writer that died
_LOW_WATER = 0.9
_KEY = re.compile(r"[0-9a-f]{64}")

# magic, key (32 bytes), dtype ('<u2' ...), ndim, shape[4], payload bytes; padded to HEADER_SIZE.
_MAGIC = b"DCVSRFR2"
DIGEST_SIZE = 16  # BLAKE2b per frame, after the header
_CARRY_MAGIC = b"DCVSRCA1"  # then the SHA-256 of the safetensors bytes that follow
_HEADER = struct.Struct("<8s32s8sI4QQ")
HEADER_SIZE = 128


def default_directory() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("dcvsr"))


class FrameCache:
    """Segment outputs and carried states on disk, by content key. max_bytes 0 disables it."""

    def __init__(self, directory: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = Path(directory)
        self.root = self.directory / SUBDIR
        self.max_bytes = max(0, int(max_bytes))
        self._approx: int | None = None  # bytes held, as last scanned plus what this engine stored since

    @classmethod
    def from_env(cls) -> FrameCache:
        """DCVSR_CACHE_DIR (default: the user's cache folder) and DCVSR_CACHE_BYTES (default 8 GiB)."""
        directory = os.environ.get("DCVSR_CACHE_DIR") or default_directory()
        size = os.environ.get("DCVSR_CACHE_BYTES")
        return cls(directory, parse_size(size) if size else DEFAULT_MAX_BYTES)

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def path(self, key: str, kind: str) -> Path:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.root / key[:2] / (key + kind)

    # -- lookups -------------------------------------------------------------------------------
    def has(self, key: str, kind: str) -> bool:
        """Whether an entry exists as a regular file (a cheap lstat; reading it may still find it bad)."""
        if not self.enabled:
            return False
        try:
            return stat.S_ISREG(os.lstat(self.path(key, kind)).st_mode)
        except OSError:  # absent, or in a part of the folder we cannot read
            return False

    def get_frames(self, key: str, shape: tuple[int, ...], dtype: np.dtype | str,
                   lo: int = 0, hi: int | None = None) -> np.ndarray | None:
        """Frames lo..hi-1 of the entry, which must hold `shape` (n, h, w, c) of `dtype`; None if
        absent, not whole or not what it says."""
        if not self.enabled:
            return None
        dtype = np.dtype(dtype)
        n = shape[0]
        hi = n if hi is None else hi
        if not 0 <= lo <= hi <= n:
            raise ValueError(f"frames {lo}..{hi} outside an entry of {n}")
        path = self.path(key, FRAMES)
        frame_bytes = int(np.prod(shape[1:])) * dtype.itemsize
        fd = self._open(path)
        if fd is None:
            return None
        try:
            header = os.pread(fd, HEADER_SIZE + n * DIGEST_SIZE, 0)
            layout = _entry_layout(header[:HEADER_SIZE], key, os.fstat(fd).st_size)
            if layout is None:
                return self._bad(path, "not whole, or its header does not match its key and size")
            if layout != (tuple(shape), dtype.str.encode()):  # whole, but not what the caller needs
                return None
            digests = header[HEADER_SIZE:]
            out = np.empty((hi - lo, *shape[1:]), dtype)
            data = memoryview(out).cast("B")
            if os.preadv(fd, [data], HEADER_SIZE + n * DIGEST_SIZE + lo * frame_bytes) != out.nbytes:
                return self._bad(path, "not whole")
            for k in range(hi - lo):
                i = lo + k
                if _digest(data[k * frame_bytes:(k + 1) * frame_bytes]) != digests[i * DIGEST_SIZE:
                                                                                    (i + 1) * DIGEST_SIZE]:
                    return self._bad(path, f"frame {i} does not match its checksum")
        except OSError as e:
            log.warning("cache entry %s unreadable: %s", path, e)
            return None
        finally:
            os.close(fd)
        _touch(path)
        return out

    def get_carry(self, key: str) -> CarriedState | None:
        if not self.enabled:
            return None
        path = self.path(key, CARRY)
        fd = self._open(path)
        if fd is None:
            return None
        try:
            with os.fdopen(fd, "rb") as fh:
                data = fh.read()
        except OSError as e:
            log.warning("cache entry %s unreadable: %s", path, e)
            return None
        head = len(_CARRY_MAGIC) + 32
        if data[:len(_CARRY_MAGIC)] != _CARRY_MAGIC or hashlib.sha256(data[head:]).digest() != data[
                len(_CARRY_MAGIC):head]:
            return self._bad(path, "does not match its checksum")
        try:
            state = CarriedState.from_bytes(data[head:], str(path))
        except Exception as e:  # a bad entry is a miss
            return self._bad(path, str(e))
        _touch(path)
        return state

    def _open(self, path: Path) -> int | None:
        """A descriptor of the entry if it is a regular file we can read; anything else at its name (a
        FIFO, a device, a link) is removed and reads as a miss."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as e:  # ELOOP (a link), EACCES (a folder or file we may not read), ...
            if e.errno == errno.ELOOP:
                return self._bad(path, "a link, not an entry")
            log.warning("cache entry %s unreadable: %s", path, e)
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return self._bad(path, "not a regular file")
        return fd

    @staticmethod
    def _bad(path: Path, why: str) -> None:
        """A bad entry: logged and deleted (the next store under its key writes it again); a miss."""
        log.warning("cache entry %s is bad (%s): removing it", path, why)
        try:
            path.unlink()
        except OSError:
            pass
        return None

    # -- stores --------------------------------------------------------------------------------
    def put_frames(self, key: str, frames: np.ndarray) -> None:
        """Store a segment's frames (n, h, w, c)."""
        if not self.enabled:
            return
        frames = np.ascontiguousarray(frames)
        if frames.ndim != 4 or HEADER_SIZE + frames.nbytes > self.max_bytes:
            return
        header = _HEADER.pack(_MAGIC, bytes.fromhex(key), frames.dtype.str.encode(), frames.ndim,
                              *frames.shape, frames.nbytes).ljust(HEADER_SIZE, b"\0")
        digests = b"".join(_digest(memoryview(f).cast("B")) for f in frames)

        def write(fh: BinaryIO) -> None:
            fh.write(header)
            fh.write(digests)
            fh.write(memoryview(frames).cast("B"))

        self._store(self.path(key, FRAMES), write)

    def put_carry(self, key: str, state: CarriedState) -> None:
        if not self.enabled or state.nbytes > self.max_bytes:
            return
        data = state.to_bytes()

        def write(fh: BinaryIO) -> None:
            fh.write(_CARRY_MAGIC)
            fh.write(hashlib.sha256(data).digest())
            fh.write(data)

        self._store(self.path(key, CARRY), write)

    def _store(self, path: Path, write: Callable[[BinaryIO], None]) -> None:
        tmp = path.with_name(f"{path.name}{_TMP}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            _private_folders(path.parent)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                size = fh.tell()
            os.replace(tmp, path)  # atomic: readers see the old entry, the new one, or none
        except OSError as e:  # a full, read-only or foreign part of the disk costs speed, never a render
            log.warning("could not store cache entry %s: %s", path, e)
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            return
        if self._approx is None:
            self._approx = self._scan()[0]
        else:
            self._approx += size
        if self._approx > self.max_bytes:
            self.evict()

    # -- size bound ----------------------------------------------------------------------------
    def held_bytes(self) -> int:
        """Bytes the cache holds now (a scan: entries of other engines sharing the folder count too)."""
        return self._scan()[0]

    def _scan(self) -> tuple[int, list[tuple[float, int, Path]]]:
        """(bytes held, [(mtime, size, path)] of the entries); removes stale temporary files. Parts of
        the folder that cannot be read are skipped (and logged)."""
        total, entries = 0, []
        now = time.time()
        try:
            folders = list(os.scandir(self.root))
        except FileNotFoundError:
            return 0, []
        except OSError as e:
            log.warning("cache folder %s unreadable: %s", self.root, e)
            return 0, []
        for folder in folders:
            try:
                if not folder.is_dir(follow_symlinks=False):
                    continue
                files = list(os.scandir(folder.path))
            except FileNotFoundError:
                continue
            except OSError as e:
                log.warning("cache folder %s unreadable, skipped: %s", folder.path, e)
                continue
            for f in files:
                try:
                    st = f.stat(follow_symlinks=False)
                    if _TMP in f.name:
                        if now - st.st_mtime > _STALE_TMP_SECONDS:
                            Path(f.path).unlink(missing_ok=True)
                        continue
                    if not stat.S_ISREG(st.st_mode):  # nothing but entries belongs here
                        Path(f.path).unlink(missing_ok=True)
                        continue
                except OSError:
                    continue
                total += st.st_size
                entries.append((st.st_mtime, st.st_size, Path(f.path)))
        return total, entries

    def evict(self) -> None:
        """Remove least recently used entries until the cache is under 90% of its limit."""
        total, entries = self._scan()
        target = int(self.max_bytes * _LOW_WATER)
        entries.sort(key=lambda e: e[0])
        removed = 0
        for _mtime, size, path in entries:
            if total <= target:
                break
            try:
                path.unlink(missing_ok=True)  # another engine may have removed it first
            except OSError:
                continue
            total -= size
            removed += 1
        if removed:
            log.info("cache: removed %d least recently used entries; %.1f MiB held", removed, total / 2**20)
        self._approx = total


def _entry_layout(header: bytes, key: str, size: int) -> tuple[tuple[int, ...], bytes] | None:
    """(shape, dtype text) an entry's header states, or None if the header is not this key's or does not
    agree with itself and the file's size (a bad entry)."""
    if len(header) != HEADER_SIZE:
        return None
    magic, key_bytes, dt, ndim, *rest = _HEADER.unpack_from(header)
    dims, payload = tuple(rest[:4]), rest[4]
    try:
        itemsize = np.dtype(dt.rstrip(b"\0").decode("ascii")).itemsize
    except (TypeError, ValueError, UnicodeDecodeError):
        return None
    if magic != _MAGIC or key_bytes != bytes.fromhex(key) or ndim != 4 \
            or payload != int(np.prod(dims, dtype=object)) * itemsize \
            or size != HEADER_SIZE + dims[0] * DIGEST_SIZE + payload:
        return None
    return dims, dt.rstrip(b"\0")


def _digest(data: memoryview) -> bytes:
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE).digest()


def _private_folders(folder: Path) -> None:
    """Create `folder` and its missing parents with mode 0700 whatever the umask (mkdir's mode is
    masked by it, and Path.mkdir(parents=True) gives parents the default mode)."""
    missing = []
    for p in [folder, *folder.parents]:
        if p.is_dir():
            break
        missing.append(p)
    for p in reversed(missing):
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:
            continue
        os.chmod(p, 0o700)


def _touch(path: Path) -> None:
    """Mark an entry used now (LRU order is by mtime)."""
    try:
        os.utime(path)
    except OSError:
        pass
