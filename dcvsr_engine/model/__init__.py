"""Model folders: their layout, loading, the tiny test model and fetching the published weights.

The names below are imported on first use (PEP 562), so that `dcvsr --help` and the layout's path
logic load no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {"DCVSRModel": "loading", "load_model": "loading", "pull": "pull", "make_tiny": "tiny",
         "default_model": "layout", "resolve_model_path": "layout"}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
