"""The sources list a caller supplies, and the manifest of every file training used.

sources.json is a JSON list (or {"sources": [...]}) of entries

    {"path": "clips/a.mp4", "licence": "CC-BY-4.0", "origin": "https://...", "kind": "video"}

`path` is relative to the sources file. `kind`: "video" (a video file, or a folder of numbered
frames such as a REDS clip), "photo" (one still image) or "photos" (every image directly in a
folder, each a photo source with the entry's licence); when absent it is guessed from the path
(image file: photo, anything else: video). Every entry must state a licence: training data
whose terms are unknown is refused, so every model made here can say what it was trained on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dcvsr_protocol.errors import InputError

from ..io.image_source import list_images
from ..io.images import is_image_path
from ..jsonfile import read_json

KINDS = ("video", "photo", "photos")
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class Source:
    """One usable source: a video (file or frame folder) or one photo."""

    path: Path
    kind: str  # "video" or "photo"
    licence: str
    origin: str
    frames: int = 1
    width: int = 0
    height: int = 0


def read_sources(path: Path) -> list[dict[str, Any]]:
    """The raw entries of a sources file, each checked for a path and a licence."""
    path = Path(path)
    data = read_json(path, InputError, "sources list")
    if isinstance(data, dict):
        data = data.get("sources")
    if not isinstance(data, list) or not data:
        raise InputError(f"{path}: expected a non-empty JSON list of sources (or {{\"sources\": [...]}})")
    entries = []
    for i, entry in enumerate(data):
        where = f"{path}: source {i}"
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"]:
            raise InputError(f"{where}: each source needs a \"path\" string")
        licence = entry.get("licence", entry.get("license"))
        if not isinstance(licence, str) or not licence.strip():
            raise InputError(f"{where} ({entry['path']}): no licence; every training source must state "
                             "its licence (\"licence\": e.g. \"CC-BY-4.0\") so the model's data can be "
                             "accounted for")
        kind = entry.get("kind")
        if kind is not None and kind not in KINDS:
            raise InputError(f"{where}: kind {kind!r} must be one of {', '.join(KINDS)}")
        origin = entry.get("origin", "")
        if not isinstance(origin, str):
            raise InputError(f"{where}: \"origin\" must be a string")
        file = Path(entry["path"]).expanduser()
        file = file if file.is_absolute() else path.parent / file
        entries.append({"path": file, "licence": licence.strip(), "origin": origin, "kind": kind})
    return entries


def expand_sources(entries: list[dict[str, Any]], frames: int, crop: int) -> list[Source]:
    """Sources that can give clips of `frames` frames of `crop` x `crop`; unusable ones are errors."""
    from ..io import open_clip

    out: list[Source] = []
    for entry in entries:
        path: Path = entry["path"]
        if not path.exists():
            raise InputError(f"training source {path}: no such file or folder")
        kind = entry["kind"] or ("photo" if is_image_path(path) and path.is_file() else "video")
        files = list_images(path) if kind == "photos" else [path]
        if kind == "photos" and not files:
            raise InputError(f"training source {path}: the folder holds no images")
        for file in files:
            clip = open_clip(file)
            as_photo = kind != "video"
            if not as_photo and clip.num_frames < frames:
                raise InputError(f"training source {file}: {clip.num_frames} frames, but clips of {frames} "
                                 "are needed (give it as a photo, or train with fewer --frames)")
            if min(clip.width, clip.height) < crop:
                raise InputError(f"training source {file}: {clip.width}x{clip.height} is smaller than the "
                                 f"{crop}-pixel crop")
            out.append(Source(file, "photo" if as_photo else "video", entry["licence"], entry["origin"],
                              1 if as_photo else clip.num_frames, clip.width, clip.height))
    return out


def manifest(sources: list[Source]) -> dict[str, Any]:
    """Every file used, with licence, origin and size; video folders list their frame files."""
    items = []
    for s in sources:
        item: dict[str, Any] = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(s).items()}
        if s.path.is_dir():
            item["files"] = [p.name for p in list_images(s.path)]
            item["bytes"] = sum((s.path / f).stat().st_size for f in item["files"])
        else:
            item["bytes"] = s.path.stat().st_size
        items.append(item)
    licences = sorted({s.licence for s in sources})
    return {"format": MANIFEST_FORMAT, "sources": items, "licences": licences,
            "digest": digest(items)}


def digest(items: list[dict[str, Any]]) -> str:
    """What a resumed run must find unchanged: the files, their sizes and licences, in order."""
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:16]
