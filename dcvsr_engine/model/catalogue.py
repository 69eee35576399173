"""Which models this installation could run: installed ones and the shipped nano, where each lives,
its size, and which one runs without --model. Reads files only (no torch), for `dcvsr models list`,
`--help` and `dcvsr doctor`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcvsr_protocol.errors import ModelError

from .layout import DCVSR_JSON, SHIPPED_DIR, default_model, is_installed, models_dir
from .quality import quality_defaults


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    origin: str  # "installed" or "shipped"
    size: int  # bytes
    is_default: bool
    problem: str | None  # why it cannot run, when its dcvsr.json is bad


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _default() -> Path | None:
    try:
        return default_model().resolve()
    except ModelError:
        return None


def _problem(folder: Path) -> str | None:
    from .info import read_info

    try:
        read_info(folder / DCVSR_JSON)
    except ModelError as e:
        return str(e)
    return None


def models() -> list[ModelEntry]:
    """Installed models (under models_dir()), then the shipped ones; the default one is marked."""
    default = _default()
    found: list[ModelEntry] = []
    for origin, root in (("installed", models_dir()), ("shipped", SHIPPED_DIR)):
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if is_installed(p)):
            found.append(ModelEntry(folder.name, folder, origin, folder_size(folder),
                                    folder.resolve() == default, _problem(folder)))
    return found


def running_defaults() -> tuple[str | None, dict[str, Any]]:
    """The name and dcvsr.json defaults of the model that runs without --model (None, {} when none)."""
    from .info import read_info

    path = _default()
    if path is None:
        return None, {}
    try:
        info = read_info(path / DCVSR_JSON)
    except ModelError:
        return path.name, {}
    return info.get("name") or path.name, quality_defaults(info, None)


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
