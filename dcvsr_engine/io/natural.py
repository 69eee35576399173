"""Natural sort order for numbered file names (frame2 before frame10)."""

from __future__ import annotations

import re
from pathlib import Path

_DIGITS = re.compile(r"(\d+)")


def natural_key(path: Path) -> tuple[list[str | int], str]:
    """Sort key: numbers compare by value, text case-insensitively; the full name breaks ties."""
    # re.split with a capture group alternates text, number, text, ..., so every position
    # holds the same type across keys and the lists compare without TypeError.
    parts = _DIGITS.split(path.name)
    key: list[str | int] = [int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)]
    return key, path.name
