"""A model's identity, cheap to compute and the same on every machine.

Hashes the config files and, per weights file, its size, its safetensors header and a few
evenly spaced blocks of its data (reading GBs of weights on every load would be too slow;
the sampled blocks still catch weights retrained or re-initialised with the same shapes).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .weights import read_header

_SAMPLES = 16
_BLOCK = 4096


def fingerprint(root: Path, config_files: list[Path], weight_files: list[Path]) -> str:
    """sha256 hex digest over the files, each named by its path relative to `root`."""
    h = hashlib.sha256(b"dcvsr-model-fingerprint-1\0")
    for path in sorted(config_files, key=lambda p: p.relative_to(root).as_posix()):
        _field(h, path.relative_to(root).as_posix().encode())
        _field(h, path.read_bytes())
    for path in sorted(weight_files, key=lambda p: p.relative_to(root).as_posix()):
        header, start = read_header(path)
        size = path.stat().st_size
        _field(h, path.relative_to(root).as_posix().encode())
        _field(h, str(size).encode())
        _field(h, header)
        _field(h, _sample(path, start, size))
    return h.hexdigest()


def _field(h: hashlib._Hash, data: bytes) -> None:
    # Length-prefixed so that concatenations of different fields cannot collide.
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


def _sample(path: Path, start: int, size: int) -> bytes:
    span = size - start
    if span <= _SAMPLES * _BLOCK:
        with path.open("rb") as f:
            f.seek(start)
            return f.read()
    step = (span - _BLOCK) // (_SAMPLES - 1)
    out = bytearray()
    with path.open("rb") as f:
        for i in range(_SAMPLES):
            f.seek(start + i * step)
            out += f.read(_BLOCK)
    return bytes(out)
