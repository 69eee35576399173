"""Reading the small JSON files users and models provide (configs, presets) with errors that name them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_object(path: Path, error: type[Exception], what: str) -> dict[str, Any]:
    """The JSON object in `path`; raises `error` naming `what` and the file if unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"{what} {path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise error(f"{what} {path}: expected a JSON object")
    return data
