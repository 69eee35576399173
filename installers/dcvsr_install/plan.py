"""What an install writes and runs, decided before anything is touched.

Each host contributes files (bytes and a mode) and commands (each with its undo). apply() checks the
whole plan first (permissions, files that are not ours, another layout installed), so a refusal
changes nothing; then writes each file atomically, removes what the previous install wrote that this
one no longer does (an upgrade in place), runs the commands and writes the manifest.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InstallError
from .layout import Layout
from .manifest import Manifest, sha256

Say = Callable[[str], None]


@dataclass(frozen=True)
class FileWrite:
    target: Path
    data: bytes
    mode: int


@dataclass(frozen=True)
class Command:
    what: str
    run: list[str]
    undo: list[str]


@dataclass
class Plan:
    layout: Layout
    version: str
    hosts: list[str] = field(default_factory=list)
    files: list[FileWrite] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_file(self, target: Path, data: bytes, mode: int = 0o644) -> None:
        self.files.append(FileWrite(target, data, mode))

    def add_tree(self, source: Path, target: Path) -> None:
        """Every file under `source` (no caches), executables keeping their execute bits."""
        for path in sorted(source.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            mode = 0o755 if os.stat(path).st_mode & 0o111 else 0o644
            self.add_file(target / path.relative_to(source), path.read_bytes(), mode)


def writable_ancestor(path: Path) -> Path:
    """The nearest folder at or above `path` that exists (where creating `path` needs permission)."""
    probe = path
    while not probe.exists():
        probe = probe.parent
    return probe


def check(plan: Plan, old: Manifest | None) -> None:
    """Refuse, before anything is written, what apply() could not finish or should not do."""
    owned = set(old.files) if old else set()
    for write in plan.files:
        target = write.target
        if target.is_dir():
            raise InstallError(f"{target} is a folder where dcvsr installs a file; remove it first")
        if target.exists() and str(target) not in owned:
            raise InstallError(f"{target} exists and was not installed by `dcvsr install` (an earlier manual "
                               "copy?); remove it, then install again")
        folder = writable_ancestor(target.parent)
        if not os.access(folder, os.W_OK):
            hint = " or install for yourself with --user" if plan.layout.scope == "system" else ""
            raise InstallError(f"no permission to write {target} (in {folder}): run as an administrator "
                               f"(sudo){hint}")


def _write_atomic(write: FileWrite) -> None:
    tmp = write.target.with_name(f".{write.target.name}.dcvsr-tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(write.data)
        os.chmod(tmp, write.mode)
        os.replace(tmp, write.target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _make_dirs(folder: Path, created: list[str]) -> None:
    missing = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        path.mkdir(mode=0o755)
        created.append(str(path))


def run_command(argv: list[str], say: Say) -> bool:
    try:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        say(f"warning: `{' '.join(argv)}` failed: {e}")
        return False
    if result.returncode != 0:
        say(f"warning: `{' '.join(argv)}` exited with {result.returncode}: {result.stderr.strip()[-500:]}")
        return False
    return True


def apply(plan: Plan, old: Manifest | None, dry_run: bool, say: Say) -> Manifest:
    """Write the plan (or with dry_run say what would be written) and return the new manifest."""
    layout = plan.layout
    check(plan, old)
    verb = "would write" if dry_run else "wrote"
    manifest = Manifest(layout.name, str(layout.prefix) if layout.prefix else None, plan.version,
                        hosts=list(plan.hosts), dirs=list(old.dirs) if old else [])
    stale = set(old.files) - {str(w.target) for w in plan.files} if old else set()
    if dry_run:
        for write in plan.files:
            say(f"{verb} {write.target} (mode {write.mode:o}, {len(write.data)} bytes)")
        for path in sorted(stale):
            say(f"would remove {path} (installed earlier, no longer part of dcvsr)")
        for command in plan.commands:
            say(f"would run {' '.join(command.run)}" if layout.is_real() else
                f"would not run `{' '.join(command.run)}` (a --prefix install changes no settings)")
        say(f"would write the manifest {layout.manifest()}")
        return manifest
    try:
        for write in plan.files:
            _make_dirs(write.target.parent, manifest.dirs)
            _write_atomic(write)
            manifest.files[str(write.target)] = {"sha256": sha256(write.target), "mode": write.mode}
        for path in sorted(stale):
            with contextlib.suppress(FileNotFoundError):
                Path(path).unlink()
        remove_empty_dirs(manifest.dirs, keep=True)
        if old:  # settings made by the previous install are undone and made again below
            for setting in old.settings:
                if layout.is_real():
                    run_command(setting["undo"], say)
        for command in plan.commands:
            if not layout.is_real():
                say(f"not run (a --prefix install changes no settings): {' '.join(command.run)}")
            elif run_command(command.run, say):
                manifest.settings.append({"what": command.what, "undo": command.undo})
    finally:
        _make_dirs(layout.manifest().parent, manifest.dirs)
        _write_atomic(FileWrite(layout.manifest(), manifest.to_json().encode(), 0o644))
    return manifest


def remove_empty_dirs(dirs: list[str], keep: bool = False) -> None:
    """Remove the listed folders that are empty, deepest first. With keep, remove none that still hold
    files (an upgrade prunes only folders the new install no longer uses)."""
    for path in sorted(dirs, key=lambda p: len(Path(p).parts), reverse=True):
        folder = Path(path)
        # Python writes __pycache__ beside the packages dcvsr copied: it goes with them.
        shutil.rmtree(folder / "__pycache__", ignore_errors=True)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            if keep:
                dirs.remove(path)
        elif not folder.exists() and keep:
            dirs.remove(path)


def uninstall(layout: Layout, manifest: Manifest, purge_paths: list[Path], dry_run: bool, say: Say) -> None:
    """Undo the settings, remove the files and then the folders the manifest lists, and with purge_paths
    the user data too."""
    verb = "would remove" if dry_run else "removed"
    for setting in manifest.settings:
        if dry_run:
            say(f"would run {' '.join(setting['undo'])} ({setting['what']})")
        elif layout.is_real():
            run_command(setting["undo"], say)
    for path in sorted(manifest.files):
        target = Path(path)
        if target.exists() and sha256(target) != manifest.files[path]["sha256"]:
            say(f"note: {target} changed since it was installed; removing it anyway (dcvsr owns it)")
        if dry_run:
            say(f"{verb} {target}")
        else:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
    say(f"{verb} {len(manifest.files)} files and the manifest {layout.manifest()}")
    for folder in purge_paths:
        if folder.exists():
            say(f"{verb} user data {folder}")
            if not dry_run:
                shutil.rmtree(folder)
    if not dry_run:
        layout.manifest().unlink()
        remove_empty_dirs(manifest.dirs)
