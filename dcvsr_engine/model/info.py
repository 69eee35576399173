"""dcvsr.json: what this project needs to know about a model beyond the diffusers configs.

    {"format": 1, "name": ..., "description": ...,
     "latent": {"kind": "vae"}, "conditioning": {"image_embeds": "clip-mean"},
     "defaults": {<Settings field with model_default=True>: value, ...}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ModelError, SettingsError
from ..settings import Settings
from .layout import read_json

FORMAT = 1
LATENT_KINDS = ("vae",)
IMAGE_EMBEDS = ("clip-mean",)


def make_info(name: str, description: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """A dcvsr.json dict; the defaults are validated so a model is never written with bad ones."""
    info = {"format": FORMAT, "name": name, "description": description, "latent": {"kind": "vae"},
            "conditioning": {"image_embeds": "clip-mean"}, "defaults": dict(defaults)}
    validate_info(info, Path("dcvsr.json"))
    return info


def read_info(path: Path) -> dict[str, Any]:
    """dcvsr.json at `path`, validated; every problem is a ModelError naming the file."""
    info = read_json(path)
    validate_info(info, path)
    return info


def validate_info(info: dict[str, Any], path: Path) -> None:
    if info.get("format") != FORMAT:
        raise ModelError(f"{path}: unsupported format {info.get('format')!r} "
                         f"(this dcvsr reads format {FORMAT})")
    for key in ("name", "description"):
        if not isinstance(info.get(key, ""), str):
            raise ModelError(f"{path}: {key!r} must be a string")
    kind = _section(info, "latent", path).get("kind", "vae")
    if kind not in LATENT_KINDS:
        raise ModelError(f"{path}: latent kind {kind!r} is not supported "
                         f"(supported: {', '.join(LATENT_KINDS)})")
    embeds = _section(info, "conditioning", path).get("image_embeds", "clip-mean")
    if embeds not in IMAGE_EMBEDS:
        raise ModelError(f"{path}: conditioning image_embeds {embeds!r} is not supported "
                         f"(supported: {', '.join(IMAGE_EMBEDS)})")
    defaults = _section(info, "defaults", path)
    try:
        Settings.for_model(defaults)
    except SettingsError as e:
        raise ModelError(f"{path}: {e}") from e


def _section(info: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = info.get(key, {})
    if not isinstance(value, dict):
        raise ModelError(f"{path}: {key!r} must be a JSON object")
    return value
