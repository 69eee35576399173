"""A disk cache of rendered segments: their output frames and their outgoing carried state.

Entries are named by content keys (see dcvsr_renderer.segment_key): the same key always means
the same bytes, so a hit needs no further checks than "is this file whole", and two engines may
share the folder. Layout: <dir>/segments-v1/<key[:2]>/<key>.frames and <key>.carry.

- Frames: a fixed 128-byte header (magic, key, dtype, shape, payload length) and the frames'
  raw bytes in C order. No pickle. A reader checks the header and the file length against what it
  expects and reads only the frames it wants (one frame of a long 4K segment is one pread).
- Carried state: safetensors, written by CarriedState.save and read by CarriedState.load.
- Writes go to a unique temporary name in the same folder and are renamed into place, so a
  reader (in this engine or another) sees a whole entry or none. A bad entry reads as a miss
  and is overwritten by the next store under its key.
- Bounded size: after a store pushes the (approximate) total over the limit, the folder is
  scanned and the least recently used entries (by mtime; a hit touches it) are removed down to
  90% of the limit. The total is re-read from the folder at each eviction, so entries that other
  engines add or remove are accounted for.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import struct
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..sampler.carry import CarriedState

log = logging.getLogger("dcvsr.cache")

DEFAULT_MAX_BYTES = 8 << 30
SUBDIR = "segments-v1"
FRAMES, CARRY = ".frames", ".carry"
_TMP = ".tmp-"
_STALE_TMP_SECONDS = 3600.0  # a temporary file this old belongs to a writer that died
_LOW_WATER = 0.9
_KEY = re.compile(r"[0-9a-f]{64}")

# magic, key (32 bytes), dtype ('<u2' ...), ndim, shape[4], payload bytes; padded to HEADER_SIZE.
_MAGIC = b"DCVSRFR1"
_HEADER = struct.Struct("<8s32s8sI4QQ")
HEADER_SIZE = 128


def parse_size(text: str) -> int:
    """'8G', '512M', '1000000' -> bytes (K/M/G/T are powers of 1024)."""
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    factor = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    value = int(float(number) * factor)
    if value < 0:
        raise ValueError(f"negative cache size {text!r}")
    return value


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
        """Whether an entry exists (a cheap stat; reading it may still find it bad)."""
        return self.enabled and self.path(key, kind).is_file()

    def get_frames(self, key: str, shape: tuple[int, ...], dtype: np.dtype | str,
                   lo: int = 0, hi: int | None = None) -> np.ndarray | None:
        """Frames lo..hi-1 of the entry, which must hold `shape` (n, h, w, c) of `dtype`; None if
        absent or not whole."""
        if not self.enabled:
            return None
        dtype = np.dtype(dtype)
        n = shape[0]
        hi = n if hi is None else hi
        if not 0 <= lo <= hi <= n:
            raise ValueError(f"frames {lo}..{hi} outside an entry of {n}")
        path = self.path(key, FRAMES)
        frame_bytes = int(np.prod(shape[1:])) * dtype.itemsize
        try:
            with open(path, "rb") as fh:
                header = fh.read(HEADER_SIZE)
                expected = HEADER_SIZE + n * frame_bytes
                if not _header_ok(header, key, shape, dtype) or os.fstat(fh.fileno()).st_size != expected:
                    log.warning("cache entry %s is not whole; ignoring it", path)
                    return None
                out = np.empty((hi - lo, *shape[1:]), dtype)
                fh.seek(HEADER_SIZE + lo * frame_bytes)
                if fh.readinto(memoryview(out).cast("B")) != out.nbytes:
                    return None
        except FileNotFoundError:
            return None
        except OSError as e:
            log.warning("cache entry %s unreadable: %s", path, e)
            return None
        _touch(path)
        return out

    def get_carry(self, key: str) -> CarriedState | None:
        if not self.enabled:
            return None
        path = self.path(key, CARRY)
        if not path.is_file():
            return None
        try:
            state = CarriedState.load(path)
        except Exception as e:  # a bad entry is a miss
            log.warning("cache entry %s unusable: %s", path, e)
            return None
        _touch(path)
        return state

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

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                fh.write(header)
                fh.write(memoryview(frames).cast("B"))

        self._store(self.path(key, FRAMES), write)

    def put_carry(self, key: str, state: CarriedState) -> None:
        if not self.enabled or state.nbytes > self.max_bytes:
            return
        self._store(self.path(key, CARRY), lambda tmp: state.save(tmp))

    def _store(self, path: Path, write: Callable[[Path], None]) -> None:
        tmp = path.with_name(f"{path.name}{_TMP}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write(tmp)
            size = tmp.stat().st_size
            os.replace(tmp, path)  # atomic: readers see the old entry, the new one, or none
        except OSError as e:  # a full or read-only disk costs speed, never a render
            log.warning("could not store cache entry %s: %s", path, e)
            tmp.unlink(missing_ok=True)
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
        """(bytes held, [(mtime, size, path)] of the entries); removes stale temporary files."""
        total, entries = 0, []
        now = time.time()
        try:
            folders = list(os.scandir(self.root))
        except FileNotFoundError:
            return 0, []
        for folder in folders:
            if not folder.is_dir(follow_symlinks=False):
                continue
            try:
                files = list(os.scandir(folder.path))
            except FileNotFoundError:
                continue
            for f in files:
                try:
                    st = f.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if _TMP in f.name:
                    if now - st.st_mtime > _STALE_TMP_SECONDS:
                        Path(f.path).unlink(missing_ok=True)
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
            path.unlink(missing_ok=True)  # another engine may have removed it first
            total -= size
            removed += 1
        if removed:
            log.info("cache: removed %d least recently used entries; %.1f MiB held", removed, total / 2**20)
        self._approx = total


def _header_ok(header: bytes, key: str, shape: tuple[int, ...], dtype: np.dtype) -> bool:
    if len(header) != HEADER_SIZE:
        return False
    magic, key_bytes, dt, ndim, *rest = _HEADER.unpack_from(header)
    dims, payload = rest[:4], rest[4]
    return (magic == _MAGIC and key_bytes == bytes.fromhex(key) and dt.rstrip(b"\0") == dtype.str.encode()
            and ndim == len(shape) == 4 and tuple(dims) == tuple(shape)
            and payload == int(np.prod(shape)) * dtype.itemsize)


def _touch(path: Path) -> None:
    """Mark an entry used now (LRU order is by mtime)."""
    try:
        os.utime(path)
    except OSError:
        pass
