"""Write the C header of the effect's parameters from the one settings description.

    python gen_settings_header.py PATH/TO/settings.py > dcvsr_settings.h

Describe runs when a host scans plug-ins, with no engine to ask, so the parameters' names,
ranges, defaults, choices and hints are compiled in: this generator runs at build time, and
tests/test_ofx_effect.py checks what the built plug-in describes against settings.py, so the two
cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from pathlib import Path

# The settings the effect exposes, in the order of its parameter page; scale is offered as the
# factors the engine's models are made for.
SCALES = (2.0, 4.0)
EXPOSED = ("footage", "steps", "seed")


def load(path: Path):
    package_dir = path.parent
    sys.path.insert(0, str(package_dir.parent))
    return importlib.import_module(f"{package_dir.name}.{path.stem}")


def c_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII text is a valid C string literal


def c_number(value: float | int | None, fallback: float) -> str:
    return repr(float(fallback if value is None else value))


def main() -> None:
    path = Path(sys.argv[1]).resolve()
    module = load(path)
    fields = {f.name: f for f in dataclasses.fields(module.Settings)}
    scale = fields["scale"]
    for factor in SCALES:
        lo, hi = scale.metadata["minimum"], scale.metadata["maximum"]
        assert lo <= factor <= hi, f"scale {factor} is outside the settings' range {lo}..{hi}"
    rows = []
    default_scale = SCALES.index(scale.default) if scale.default in SCALES else len(SCALES) - 1
    rows.append(("scale", "Scale", scale.metadata["help"], "DCVSR_PARAM_CHOICE", default_scale, 0,
                 len(SCALES) - 1, [f"{f:g}x" for f in SCALES]))
    quality_help = ("'preview' runs the model's fast preview preset (nano unless a model is named): for "
                    "scrubbing; 'full' runs the chosen model with its defaults: for the final render")
    rows.append(("quality", "Quality", quality_help, "DCVSR_PARAM_CHOICE",
                 module.QUALITIES.index(module.DEFAULT_QUALITY), 0, len(module.QUALITIES) - 1,
                 list(module.QUALITIES)))
    for name in EXPOSED:
        f = fields[name]
        meta = f.metadata
        if meta["choices"]:
            rows.append((name, name.replace("_", " ").title(), meta["help"], "DCVSR_PARAM_CHOICE",
                         list(meta["choices"]).index(f.default), 0, len(meta["choices"]) - 1,
                         list(meta["choices"])))
        elif f.type in (int, "int"):
            help_text = meta["help"]
            default = f.default
            lo = meta["minimum"] if meta["minimum"] is not None else 0
            hi = meta["maximum"] if meta["maximum"] is not None else 2**31 - 1
            if meta["model_default"]:
                # 0 leaves the value to the model's dcvsr.json (the dataclass default without one).
                help_text += f"; 0: the model's default ({default} without one)"
                default, lo = 0, 0
            rows.append((name, name.replace("_", " ").title(), help_text, "DCVSR_PARAM_INT", default, lo, hi,
                         []))
        else:
            raise SystemExit(f"gen_settings_header: no parameter kind for setting {name!r}")
    rows.append(("model", "Model", "a model folder or an installed model's name; empty: the engine's "
                 "default (dc-vsr when installed, else nano)", "DCVSR_PARAM_STRING", 0, 0, 0, []))
    try:
        shown = path.relative_to(Path(__file__).resolve().parents[2])
    except ValueError:
        shown = path
    out = [f"/* Generated from {shown} by ofx_bridge/tools/gen_settings_header.py: do not edit. */",
           "#ifndef DCVSR_SETTINGS_H", "#define DCVSR_SETTINGS_H", "", '#include "params.h"', ""]
    for name, _label, _help, _kind, _d, _lo, _hi, choices in rows:
        if choices:
            items = ", ".join(c_string(c) for c in choices)
            out.append(f"static const char *const DCVSR_{name.upper()}_CHOICES[] = {{{items}}};")
            out.append(f"#define DCVSR_{name.upper()}_CHOICES_N {len(choices)}")
    out.append(f"static const double DCVSR_SCALE_FACTORS[] = {{{', '.join(repr(f) for f in SCALES)}}};")
    out += ["", "static const dcvsr_param_spec DCVSR_PARAMS[] = {"]
    for name, label, help_text, kind, default, lo, hi, choices in rows:
        choice_ref = f"DCVSR_{name.upper()}_CHOICES, {len(choices)}" if choices else "NULL, 0"
        out.append(f"    {{{c_string(name)}, {c_string(label)}, {c_string(help_text)}, {kind}, "
                   f"{c_number(default, 0)}, {c_number(lo, 0)}, {c_number(hi, 0)}, {choice_ref}}},")
    out += ["};", f"#define DCVSR_N_PARAMS {len(rows)}", "", "#endif", ""]
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
