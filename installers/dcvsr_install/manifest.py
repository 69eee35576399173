"""The install manifest: every file, folder and setting `dcvsr install` wrote, so that `uninstall`
removes exactly those and a second `install` upgrades in place.

    {"format": 1, "dcvsr": "0.1.0", "layout": "linux/user", "prefix": null, "hosts": [...],
     "files": [{"path": ..., "sha256": ..., "mode": 420}], "dirs": [...],
     "settings": [{"what": ..., "undo": [argv...]}]}

`dirs` are the folders install created (removed at uninstall when empty); `settings` are changes made
by running a command (enabling a service), each with the command that undoes it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InstallError

FORMAT = 1


@dataclass
class Manifest:
    layout: str
    prefix: str | None
    version: str
    hosts: list[str] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> {"sha256", "mode"}
    dirs: list[str] = field(default_factory=list)
    settings: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT, "dcvsr": self.version, "layout": self.layout, "prefix": self.prefix,
            "hosts": self.hosts,
            "files": [{"path": p, **meta} for p, meta in sorted(self.files.items())],
            "dirs": sorted(self.dirs), "settings": self.settings,
        }, indent=2) + "\n"

    @classmethod
    def read(cls, path: Path) -> Manifest | None:
        """The manifest at `path`, None when there is none, InstallError when it cannot be used."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise InstallError(f"cannot read the install manifest {path}: {e}; without it dcvsr cannot tell "
                               "what it installed. Remove what you know was installed and the file") from e
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InstallError(f"install manifest {path} is not format {FORMAT} (written by another dcvsr "
                               "version?); uninstall with that version first")
        return cls(layout=data["layout"], prefix=data.get("prefix"), version=data.get("dcvsr", "?"),
                   hosts=list(data.get("hosts", [])),
                   files={f["path"]: {"sha256": f["sha256"], "mode": f["mode"]} for f in data["files"]},
                   dirs=list(data["dirs"]), settings=list(data.get("settings", [])))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o7777
