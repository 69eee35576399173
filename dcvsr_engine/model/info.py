"""dcvsr.json: what this project needs to know about a model beyond the diffusers configs.

    {"format": 1, "name": ..., "description": ...,
     "latent": {"kind": "vae"}, "conditioning": {"image_embeds": "clip-mean"},
     "defaults": {<Settings field with model_default=True>: value, ...},
     "presets": {"preview": {<the same kind of field>: value, ...}}}

A preset is applied over the defaults when a user asks for that quality (`--quality preview`).

"latent" (see latent.py) is {"kind": "vae"} (the default when absent) or
{"kind": "space_to_depth", "factor": 4, "scale": 1.0, "shift": 0.0, "residual": false,
"detail_gain": 0.0} (all but kind optional). Either may add "restorer": true: the bicubic upscale is
refined by the model's restorer/ (restorer.py) before it is encoded as the condition.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dcvsr_protocol.errors import ModelError, SettingsError
from dcvsr_protocol.settings import Settings

from .layout import read_json

FORMAT = 1
LATENT_KINDS = ("vae", "space_to_depth")
VAE_LATENT = {"kind": "vae"}
IMAGE_EMBEDS = ("clip-mean",)
PRESETS = ("preview",)


def make_info(name: str, description: str, defaults: dict[str, Any],
              latent: dict[str, Any] | None = None,
              presets: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A dcvsr.json dict; the defaults are validated so a model is never written with bad ones."""
    latent = dict(latent if latent is not None else VAE_LATENT)
    info = {"format": FORMAT, "name": name, "description": description, "latent": latent,
            "conditioning": {"image_embeds": "clip-mean"}, "defaults": dict(defaults)}
    if presets:
        info["presets"] = {k: dict(v) for k, v in presets.items()}
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
    latent_spec(info, path)
    _supported(_section(info, "conditioning", path).get("image_embeds", "clip-mean"), IMAGE_EMBEDS,
               "conditioning image_embeds", path)
    defaults = _section(info, "defaults", path)
    try:
        Settings.for_model(defaults)
    except SettingsError as e:
        raise ModelError(f"{path}: {e}") from e
    for name, preset in _section(info, "presets", path).items():
        if name not in PRESETS or not isinstance(preset, dict):
            raise ModelError(f"{path}: presets must map {', '.join(PRESETS)} to objects of settings")
        try:
            Settings.for_model({**defaults, **preset})
        except SettingsError as e:
            raise ModelError(f"{path}: preset {name!r}: {e}") from e


def latent_spec(info: dict[str, Any], path: Path) -> dict[str, Any]:
    """dcvsr.json's "latent" entry, checked, with every default filled in."""
    latent = _section(info, "latent", path)
    kind = _supported(latent.get("kind", "vae"), LATENT_KINDS, "latent kind", path)
    restorer = _flag(latent, "restorer", path)
    if kind == "vae":
        return {"kind": kind, "restorer": restorer}
    factor = latent.get("factor", 4)
    if not isinstance(factor, int) or isinstance(factor, bool) or not 1 <= factor <= 64:
        raise ModelError(f"{path}: latent factor must be an integer from 1 to 64, got {factor!r}")
    numbers = {"scale": latent.get("scale", 1.0), "shift": latent.get("shift", 0.0),
               "detail_gain": latent.get("detail_gain", 0.0)}
    for key, value in numbers.items():
        if not _is_number(value):
            raise ModelError(f"{path}: latent {key} must be a finite number, got {value!r}")
    if numbers["scale"] <= 0 or numbers["detail_gain"] < 0:
        raise ModelError(f"{path}: latent scale must be positive and detail_gain not negative, got "
                         f"{numbers['scale']!r} and {numbers['detail_gain']!r}")
    residual = _flag(latent, "residual", path)
    return {"kind": kind, "factor": factor, "scale": float(numbers["scale"]),
            "shift": float(numbers["shift"]), "residual": residual,
            "detail_gain": float(numbers["detail_gain"]), "restorer": restorer}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _section(info: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = info.get(key, {})
    if not isinstance(value, dict):
        raise ModelError(f"{path}: {key!r} must be a JSON object")
    return value


def _flag(latent: dict[str, Any], name: str, path: Path) -> bool:
    """A true/false field of dcvsr.json's "latent" (false when absent)."""
    value = latent.get(name, False)
    if not isinstance(value, bool):
        raise ModelError(f"{path}: latent {name} must be true or false, got {value!r}")
    return value


def _supported(value: Any, supported: tuple[str, ...], what: str, path: Path) -> Any:
    if value not in supported:
        raise ModelError(f"{path}: {what} {value!r} is not supported (supported: {', '.join(supported)})")
    return value
