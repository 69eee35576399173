"""`--quality`: which model and which of its setting presets a request runs.

"full" is the named model (or the default one) with its dcvsr.json defaults. "preview" is the
named model with its "preview" preset over its defaults, and when no model is named the shipped
nano model, whose preview preset runs at about a frame per second at 960x540 on two CPU cores
(bench/bench_nano.py). A model without a preview preset gets GENERIC_PREVIEW: fewer steps and no
guidance pass.
"""

from __future__ import annotations

from typing import Any

from dcvsr_protocol.settings import DEFAULT_QUALITY, QUALITIES, check_quality

from .layout import NANO

__all__ = ["DEFAULT_QUALITY", "GENERIC_PREVIEW", "QUALITIES", "model_for", "quality_defaults"]

GENERIC_PREVIEW = {"steps": 4, "guidance": 0.0}


def model_for(model: str | None, quality: str | None) -> str | None:
    """The model a request runs: the one named, else nano for previews, else None (the default)."""
    quality = check_quality(quality or DEFAULT_QUALITY)
    if model:
        return model
    return NANO if quality == "preview" else None


def quality_defaults(info: dict[str, Any], quality: str | None) -> dict[str, Any]:
    """The model's setting defaults at `quality` (a preset applied over its dcvsr.json defaults)."""
    quality = check_quality(quality or DEFAULT_QUALITY)
    defaults = dict(info.get("defaults", {}))
    if quality == "full":
        return defaults
    return {**defaults, **info.get("presets", {}).get(quality, GENERIC_PREVIEW)}
