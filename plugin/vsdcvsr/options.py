"""upscale()'s keyword arguments, as the one settings description (dcvsr_protocol.settings) has them.

Every field of `Settings` is a keyword argument of the same name. Its default is the dataclass
default, or None for the fields a model's dcvsr.json may override (None: the model's default).
upscale() writes them out; tests/test_vsdcvsr.py checks them against this module.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import Field, fields
from typing import Any

from dcvsr_protocol.errors import SettingsError
from dcvsr_protocol.settings import Settings, check_quality

SESSION_OPTIONS = {
    "model": "the model: an installed model's name or a model folder (None: the engine's default model)",
    "device": "the engine's device: 'cpu', 'cuda', 'cuda:1', 'mps' or 'auto' (None: the engine's choice)",
    "dtype": "the engine's compute type: 'fp32', 'fp16', 'bf16' or 'auto' (None: the engine's choice)",
    "quality": "'standard' (None): the model's standard preset (a few steps from its restored upscale); "
               "'full': the model's full sampling; 'preview': the model's fast preset, and the small CPU "
               "model 'nano' when no model is named (for scrubbing a timeline)",
}
PLUGIN_OPTIONS = {
    "format": "output format (a vs.PresetVideoFormat, format id or VideoFormat); None: the input's format",
    "cuts": "first frames of new scenes (nothing is propagated across a cut); None: read from the clip's "
            "_SceneChangePrev/_SceneChangeNext props when scene_props is True, else detected when "
            "scene_detect is True",
    "scene_props": "read the scene-change props of every frame when upscale() is called (a full pass "
                   "over the source, done only when frame 0 carries them); False skips it",
    "scene_detect": "without cuts or scene-change props, detect the cuts with dcvsr's detector (the one "
                    "`dcvsr upscale` runs, so both cut a clip alike): a full pass over the source when "
                    "upscale() is called; False renders the clip as one shot",
}


class OptionError(ValueError):
    """A bad argument; the message says what to do (upscale() turns it into vs.Error)."""


def setting_fields() -> tuple[Field, ...]:
    return fields(Settings)


def default_of(f: Field) -> Any:
    return None if f.metadata["model_default"] else f.default


def _type_name(f: Field) -> str:
    return f.type if isinstance(f.type, str) else f.type.__name__


def annotation_of(f: Field) -> str:
    """The type upscale() declares for a setting: the field's, or None too where None means the model's
    default."""
    return f"{_type_name(f)} | None" if f.metadata["model_default"] else _type_name(f)


def docstring(summary: str, width: int = 104) -> str:
    """upscale()'s docstring: the summary, then every argument with its type, default and help (the
    settings' from Settings), wrapped to `width` (the source indents it by 4 within 110 columns)."""

    def entry(text: str) -> list[str]:
        return textwrap.wrap(text, width, initial_indent="    ", subsequent_indent="        ")

    lines = [*textwrap.wrap(summary, width), "", "Settings (the dcvsr settings; None = the model's default):"]
    for f in setting_fields():
        meta = f.metadata
        extra = f" one of {', '.join(meta['choices'])};" if meta["choices"] else ""
        lines += entry(f"{f.name} ({annotation_of(f)}, default {default_of(f)!r}):{extra} {meta['help']}")
    lines.append("Engine session:")
    for name, text in SESSION_OPTIONS.items():
        lines += entry(f"{name}: {text}")
    lines.append("Plugin:")
    for name, text in PLUGIN_OPTIONS.items():
        lines += entry(f"{name}: {text}")
    return "\n".join(lines)


def settings_for_engine(values: dict[str, Any]) -> dict[str, Any]:
    """The settings to send in OPEN: the ones given (not None), checked against the description's types
    and ranges here, so that a bad value fails when the script is evaluated. The model's defaults are
    checked by the engine when the session opens."""
    names = {f.name for f in setting_fields()}
    given = {name: value for name, value in values.items() if name in names and value is not None}
    try:
        checked = Settings.for_model(None, **given)
    except SettingsError as e:
        raise OptionError(str(e)) from None
    except TypeError as e:  # a value of a type the comparisons cannot take
        raise OptionError(f"bad setting value: {e}") from None
    out: dict[str, Any] = {name: getattr(checked, name) for name in given}
    for name in SESSION_OPTIONS:
        value = values.get(name)
        if value is None:
            continue
        if name == "model" and isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str) or not value.strip():
            raise OptionError(f"{name} must be a non-empty string, got {value!r}")
        if name == "quality":
            try:
                check_quality(value)
            except SettingsError as e:
                raise OptionError(str(e)) from None
        out[name] = value
    return out
