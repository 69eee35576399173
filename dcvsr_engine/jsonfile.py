"""Reading the small JSON files users and models provide (configs, presets, source lists, training
state) with errors that name them: the one place the engine reads JSON from a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(path: Path, error: type[Exception], what: str) -> Any:
    """The JSON value in `path`; raises `error` naming `what` and the file if it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"{what} {path}: not valid JSON ({e})") from e


def read_object(path: Path, error: type[Exception], what: str) -> dict[str, Any]:
    """The JSON object in `path`; raises `error` naming `what` and the file if unreadable or not an object."""
    data = read_json(path, error, what)
    if not isinstance(data, dict):
        raise error(f"{what} {path}: expected a JSON object")
    return data
