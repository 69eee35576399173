"""The journal of a job: what lets the same command continue after a kill, a crash or a reboot.

It lives in a hidden folder beside the output (`.NAME.dcvsr-job/`), or in the folder `--work-dir`
names, with the job's chunks and carried states, and records the job's identity (input, output
format, settings, model, device, dtype, threads, streams kept), its cut list and segments, each
finished segment's chunk, and which carried TAP state feeds the next segment. Every file is
written under a temporary name, flushed to disk (fsync), then renamed, and the folder is synced
after each rename, so after a power cut the journal names only files that are complete on disk.

A segment is finished when its chunk and the state carried out of it are on disk and the
journal says so, with the chunk's SHA-256; a resumed job checks each finished segment's files
against their hash and redoes any that do not match. Anything else in the folder is redone.
Finished segments need not form a prefix: a cluster (cluster/) finishes shots in any order.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dcvsr_protocol.errors import OutputError

from ..io.atomic import remove_path

FORMAT = 2  # 2: a SHA-256 per finished segment's files
JOB_MARK = ".dcvsr-job"
_NAME = "journal.json"


def job_folder(output: Path, work_dir: Path | None = None) -> Path:
    """Beside the output, or in `work_dir` (a cluster's storage that every node sees)."""
    name = f".{output.name}{JOB_MARK}"
    return output.with_name(name) if work_dir is None else work_dir / name


def file_digest(paths: list[Path]) -> str:
    """The SHA-256 of the files' bytes, in order: what a finished segment's record keeps."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def identity_key(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_write(path: Path, write: Callable[[Path], None]) -> None:
    """Run `write(temporary path)`, flush the file to disk, rename it to `path`, sync the folder."""
    tmp = path.with_name(path.name + ".tmp")
    remove_path(tmp)
    write(tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    sync_folder(path.parent)


@dataclass
class Journal:
    folder: Path
    identity: dict[str, Any]
    cuts: list[int]
    segments: list[list[int]]                  # [start, stop, context] per segment
    done: dict[int, dict[str, Any]] = field(default_factory=dict)  # segment -> its chunk's record
    carry: dict[int, str] = field(default_factory=dict)           # segment -> state file feeding it

    @property
    def key(self) -> str:
        return identity_key(self.identity)

    def path(self, name: str) -> Path:
        return self.folder / name

    def save(self) -> None:
        data = {"format": FORMAT, "key": self.key, "identity": self.identity, "cuts": self.cuts,
                "segments": self.segments, "done": {str(k): v for k, v in sorted(self.done.items())},
                "carry": {str(k): v for k, v in sorted(self.carry.items())}}
        text = json.dumps(data, indent=1, sort_keys=True)
        durable_write(self.folder / _NAME, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def first_unfinished(self) -> int:
        """The first segment to render in order: the first one not finished, moved back to its chain's
        start when the state carried into it is gone (then the chain is rendered again from there)."""
        k = 0
        while k in self.done:
            k += 1
        while 0 < k < len(self.segments) and self.segments[k][2] > 0 and \
                not (k in self.carry and (self.folder / self.carry[k]).is_file()):
            k -= 1
        return k


def open_journal(output: Path, identity: dict[str, Any], cuts: list[int], segments: list[list[int]],
                 restart: bool, work_dir: Path | None = None) -> tuple[Journal, bool]:
    """The job's journal: the one on disk when it belongs to this very job (resumed: True, keeping
    the finished segments whose files match their hash), else a fresh one in an emptied folder."""
    folder = job_folder(output, work_dir)
    fresh = Journal(folder, identity, list(cuts), segments)
    old = _load(folder)
    if not restart and old is not None and old.get("key") == fresh.key and old.get("cuts") == fresh.cuts \
            and old.get("segments") == segments:
        fresh.done = {int(k): v for k, v in old["done"].items() if _intact(folder, v)}
        fresh.carry = {int(k): v for k, v in old["carry"].items()}
        if fresh.done:
            return fresh, True
    remove_path(folder)
    try:
        folder.mkdir(parents=work_dir is not None)
    except OSError as exc:
        raise OutputError(f"{folder.parent}: cannot create the job folder {folder.name} ({exc})") from exc
    fresh.done, fresh.carry = {}, {}
    fresh.save()
    return fresh, False


def _intact(folder: Path, record: dict[str, Any]) -> bool:
    """Whether a finished segment's output is still there as it was written: its chunk, or its image
    files, with the same SHA-256."""
    try:
        names = [record["chunk"]] if "chunk" in record else record["files"]
        return file_digest([folder / name for name in names]) == record["sha256"]
    except (OSError, KeyError, TypeError):
        return False


def _load(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / _NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data
