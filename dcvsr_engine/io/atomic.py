"""All-or-nothing outputs: write under a hidden partial name beside the target, rename at the end.

The partial lives in the output's own folder so the final rename never crosses file systems
(os.replace is atomic there). Image-folder outputs cannot be swapped in one step: the old
folder is moved aside, the new one moved in, then the old one deleted.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from os import PathLike
from pathlib import Path

from dcvsr_protocol.errors import OutputError

from .codecs import is_video_path, output_kind

PARTIAL_MARK = ".dcvsr-partial-"
_OLD_MARK = ".dcvsr-old-"
# Only folders that look like an earlier image-sequence output may be replaced wholesale.
_FRAME_FILE = re.compile(r"frame_\d+\.(png|tif)")


def partial_name(path: Path, mark: str = PARTIAL_MARK) -> Path:
    """A hidden, unique sibling of `path`: .NAME.dcvsr-partial-<random>."""
    return path.with_name(f".{path.name}{mark}{secrets.token_hex(4)}")


def check_output(path: str | PathLike[str], overwrite: bool = False) -> Path:
    """Fail early, before a long job, if `path` could not be written; returns it as a Path.

    The name must be a video file or a folder (see codecs.output_kind). The folder that will
    hold the output must exist and be writable. An existing output is
    an error unless `overwrite`; even then a file is never replaced by an image folder or the
    reverse, and a folder is only replaced if it holds nothing but frame_NNNNNN.png files.
    """
    target = Path(path)
    if target.name in ("", ".", ".."):
        raise OutputError(f"{path}: not a usable output name")
    output_kind(os.fspath(path))  # an unknown suffix is a typo, not a folder name
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {folder} is not writable")
    if not (target.exists() or target.is_symlink()):
        return target
    if not overwrite:
        raise OutputError(f"{target} already exists (allow overwriting to replace it)")
    video = is_video_path(target.suffix)
    if video and target.is_dir():
        raise OutputError(f"{target} is a folder; not replacing it with a video file")
    if not video:
        if not target.is_dir():
            raise OutputError(f"{target} is a file; not replacing it with an image folder")
        strays = [p.name for p in target.iterdir() if not _FRAME_FILE.fullmatch(p.name)]
        if strays:
            raise OutputError(
                f"{target} holds files that are not frame_NNNNNN.png ({strays[0]}); "
                "not deleting it to overwrite"
            )
    return target


def remove_path(path: Path) -> None:
    """Delete a file or folder tree if it exists; used for cleanup, so it never raises."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def commit(partial: Path, target: Path, overwrite: bool) -> None:
    """Move the finished partial to `target`; replaces an existing target only with `overwrite`."""
    exists = target.exists() or target.is_symlink()
    if exists and not overwrite:
        raise OutputError(
            f"{target} appeared while writing; not replacing it (allow overwriting to replace it)"
        )
    if not partial.is_dir():
        os.replace(partial, target)  # atomic, also over an existing file
        return
    if not exists:
        os.rename(partial, target)
        return
    old = partial_name(target, _OLD_MARK)
    os.rename(target, old)
    try:
        os.rename(partial, target)
    except BaseException:
        os.rename(old, target)  # put the previous output back
        raise
    remove_path(old)
