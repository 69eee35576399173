"""One description of every sampling setting.

The dataclass below is the single source for the `dcvsr` flags, the keyword
arguments of the host plugins, the protocol's keys and the session key, so the
front ends cannot drift apart. A model's `dcvsr.json` overrides the defaults
of the fields marked `model_default`. It lives in dcvsr_protocol (numpy only)
so that host plugins, which install no torch, take their arguments from it too.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import SettingsError


def _setting(default: Any, help: str, *, choices: tuple | None = None, model_default: bool = False,
             key: bool = True, minimum: float | None = None, maximum: float | None = None) -> Any:
    return field(default=default, metadata={
        "help": help, "choices": choices, "model_default": model_default, "key": key,
        "minimum": minimum, "maximum": maximum,
    })


# What a user asks for besides the settings: "full" runs the chosen model with its defaults; "preview"
# runs the model's preview preset and, when no model is named, the small CPU model shipped with the
# engine ("nano"): a fast look at a timeline, not the final render.
QUALITIES = ("full", "preview")
DEFAULT_QUALITY = "full"


def check_quality(value: object) -> str:
    if value not in QUALITIES:
        raise SettingsError(f"quality must be one of {', '.join(QUALITIES)}; got {value!r}")
    return str(value)


@dataclass(frozen=True)
class Settings:
    """Sampling settings for one clip. Fields marked `key` are part of the session key."""

    scale: float = _setting(4.0, "output size / input size", minimum=1.0, maximum=8.0)
    steps: int = _setting(25, "diffusion steps (Euler, Karras sigmas)", model_default=True, minimum=1,
                          maximum=200)
    seed: int = _setting(0, "noise seed; noise is a function of (seed, frame, latent position)", minimum=0)
    footage: str = _setting(
        "auto", "what the input is, for models with a restorer (nano): 'clean' (sharp and noiseless, e.g. a "
        "downscale), 'degraded' (blurred, noisy or compressed), 'auto' (unknown: a compromise between them)",
        choices=("auto", "clean", "degraded"))
    tile_size: int = _setting(64, "spatial tile size in latent pixels (8 output pixels each)",
                              model_default=True, minimum=8)
    tile_frames: int = _setting(14, "temporal tile (window) length in frames", model_default=True, minimum=1)
    tile_overlap: float = _setting(0.5, "spatial overlap of neighbouring tiles, as a fraction of the tile",
                                   model_default=True, minimum=0.0, maximum=0.75)
    frame_overlap: float = _setting(0.5, "temporal overlap of neighbouring windows, as a fraction",
                                    model_default=True, minimum=0.0, maximum=0.75)
    segment_frames: int = _setting(
        70, "frames per canonical segment: memory is bounded by one segment; TAP crosses segment "
        "boundaries forward only, through the carried state", model_default=True, minimum=1)
    guidance: float = _setting(0.5, "guidance scale s: eps' + (1+s)(eps - eps'); 0 skips the "
                               "unconditional pass", model_default=True, minimum=0.0, maximum=20.0)
    sap: bool = _setting(True, "spatial attention propagation on even steps")
    tap: bool = _setting(True, "temporal attention propagation on odd steps")
    dssag: bool = _setting(True, "detail-suppression self-attention in the unconditional branch")
    sap_stride: int = _setting(2, "SAP subsampling stride per axis of the gathered keys and values",
                               model_default=True, minimum=1, maximum=16)
    sap_gather: str = _setting(
        "previous", "where SAP's whole-frame keys and values come from: 'exact' runs the paper's extra "
        "gather pass on every SAP step; 'previous' reuses those recorded in the previous step's passes",
        choices=("previous", "exact"), model_default=True)
    tap_frames: int = _setting(4, "TAP: frames taken from the neighbouring window (largest key std)",
                               model_default=True, minimum=1)
    dssag_rho: float = _setting(0.5, "DSSAG schedule exponent rho", model_default=True, minimum=0.0)
    dssag_direction: str = _setting(
        "intent", "DSSAG schedule: 'intent' is strongest at high noise, 'literal' follows the paper's "
        "formula read with i=0 as the noisiest step", choices=("intent", "literal"), model_default=True)
    dssag_gamma_max: float = _setting(1.0, "DSSAG gamma at its strongest (0 makes DSSAG plain CFG)",
                                      model_default=True, minimum=0.0)
    dssag_layers: str = _setting(
        "spatial", "layers whose unconditional attention DSSAG flattens: every spatial self-attention "
        "('spatial') or only SAP/TAP's four ('propagation')", choices=("spatial", "propagation"),
        model_default=True)
    fps_id: int = _setting(6, "SVD added time id: frame rate minus one", model_default=True, minimum=0)
    motion_bucket_id: int = _setting(127, "SVD added time id: motion bucket", model_default=True, minimum=0)
    noise_aug_strength: float = _setting(0.0, "SVD added time id: conditioning noise strength",
                                         model_default=True, minimum=0.0)
    decode_chunk: int = _setting(14, "frames per VAE decode chunk (chunks start at segment starts)",
                                 model_default=True, minimum=1)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def for_model(cls, model_defaults: dict[str, Any] | None = None, **overrides: Any) -> Settings:
        """Dataclass defaults, then the model's `dcvsr.json` defaults, then explicit overrides."""
        values: dict[str, Any] = {}
        names = {f.name: f for f in fields(cls)}
        for name, value in (model_defaults or {}).items():
            if name not in names:
                raise SettingsError(f"dcvsr.json sets unknown setting {name!r}")
            if not names[name].metadata["model_default"]:
                raise SettingsError(f"dcvsr.json may not set {name!r} (not a per-model setting)")
            values[name] = value
        for name, value in overrides.items():
            if name not in names:
                raise SettingsError(f"unknown setting {name!r}")
            if value is not None:
                values[name] = value
        return cls(**values)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kind = _kind(f)
            if kind is bool:
                if not isinstance(value, bool):
                    raise SettingsError(f"{f.name} must be true or false, got {value!r}")
                continue
            if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                if isinstance(value, float) and value.is_integer():
                    object.__setattr__(self, f.name, int(value))
                    value = int(value)
                else:
                    raise SettingsError(f"{f.name} must be an integer, got {value!r}")
            if kind is float:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise SettingsError(f"{f.name} must be a number, got {value!r}")
                value = float(value)
                if value != value or value in (float("inf"), float("-inf")):
                    raise SettingsError(f"{f.name} must be finite, got {value!r}")
                object.__setattr__(self, f.name, value)
            meta = f.metadata
            if meta["choices"] and value not in meta["choices"]:
                raise SettingsError(f"{f.name} must be one of {', '.join(meta['choices'])}; got {value!r}")
            if meta["minimum"] is not None and value < meta["minimum"]:
                raise SettingsError(f"{f.name} must be at least {meta['minimum']}, got {value!r}")
            if meta["maximum"] is not None and value > meta["maximum"]:
                raise SettingsError(f"{f.name} must be at most {meta['maximum']}, got {value!r}")

    # -- what the front ends generate from it ---------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """Stable digest of every setting that changes pixels."""
        payload = {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["key"]}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _kind(f: dataclasses.Field) -> type:
    kind = {"bool": bool, "int": int, "float": float, "str": str}.get(f.type if isinstance(f.type, str)
                                                                      else f.type.__name__)
    assert kind is not None, f.name
    return kind


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting. Defaults are None so the model's own defaults apply."""
    group = parser.add_argument_group("sampling settings (defaults come from the model's dcvsr.json)")
    for f in fields(Settings):
        meta = f.metadata
        kind = _kind(f)
        help_text = f"{meta['help']} (default: {f.default})"
        if kind is bool:
            group.add_argument(flag_name(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                               default=None, help=help_text)
        else:
            group.add_argument(flag_name(f.name), dest=f.name, type=kind, default=None,
                               choices=meta["choices"], help=help_text,
                               metavar=f.name.upper() if not meta["choices"] else None)


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The settings a user gave on the command line (None: not given)."""
    given = {f.name: getattr(args, f.name, None) for f in fields(Settings)}
    return {name: value for name, value in given.items() if value is not None}
