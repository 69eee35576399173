"""Model folders: their layout, loading, the tiny test model and fetching the published weights.

Loading and the tiny model need torch, so they are imported on first use (PEP 562): `dcvsr --help`
and the layout's path logic load no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from .layout import default_model, resolve_model_path
from .pull import pull  # torch-free; bound here, as its module shares its name

_LAZY = {"DCVSRModel": "loading", "load_model": "loading", "make_tiny": "tiny"}
__all__ = ["DCVSRModel", "default_model", "load_model", "make_tiny", "pull", "resolve_model_path"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
