"""Colour tags (H.273 code points, as in VapourSynth's reserved frame props) and their defaults.

The model sees display-referred RGB: the plugin converts YUV to RGB with the clip's matrix and range
(the transfer and primaries are kept, so the engine sees the clip's own transfer-encoded RGB) and
converts back with the same tags on the way out. Tags a clip does not carry (absent or 2,
"unspecified") get the usual defaults by resolution: BT.709 for HD and larger, BT.470BG for 576-line
SD and SMPTE 170M for other SD sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dcvsr_protocol.colour import FULL, LIMITED, RGB_MATRIX, UNSPECIFIED, ColourTags

BT709, BT470BG, SMPTE170M = 1, 5, 6
HDR_TRANSFERS = {16: "PQ (SMPTE ST 2084)", 18: "HLG (ARIB STD-B67)"}


def is_hd(width: int, height: int) -> bool:
    return width > 1024 or height > 576


def default_tags(width: int, height: int) -> tuple[int, int, int]:
    """(matrix, transfer, primaries) for a clip that does not say."""
    if is_hd(width, height):
        return BT709, BT709, BT709
    if height == 576:
        return BT470BG, SMPTE170M, BT470BG  # PAL: BT.601-625 matrix and primaries, BT.601 transfer
    return SMPTE170M, SMPTE170M, SMPTE170M


def _code(props: Mapping[str, Any], name: str) -> int | None:
    value = props.get(name)
    if isinstance(value, int) and not isinstance(value, bool) and value != UNSPECIFIED:
        return value
    return None


def clip_tags(props: Mapping[str, Any], width: int, height: int, rgb: bool, floating: bool) -> ColourTags:
    """The tags of a clip whose first frame has these props, defaults filled in."""
    matrix, transfer, primaries = default_tags(width, height)
    if rgb:
        matrix = RGB_MATRIX
    else:
        given = _code(props, "_Matrix")
        if given is not None:
            matrix = given
    transfer = _code(props, "_Transfer") or transfer
    primaries = _code(props, "_Primaries") or primaries
    rng = props.get("_Range")
    if rng not in (FULL, LIMITED):
        rng = FULL if (rgb or floating) else LIMITED
    return ColourTags(matrix, transfer, primaries, int(rng))


def chroma_location(props: Mapping[str, Any]) -> int:
    """The clip's _ChromaLocation (0 left, the default, for absent or out-of-range values)."""
    chromaloc = props.get("_ChromaLocation", 0)
    if not isinstance(chromaloc, int) or not 0 <= chromaloc <= 5:
        chromaloc = 0
    return chromaloc


def output_range(tags: ColourTags, in_rgb: bool, in_float: bool, out_rgb: bool, out_float: bool) -> int:
    """_Range of the output: the input's when the family and the sample type stay, else the usual one."""
    if in_rgb == out_rgb and in_float == out_float:
        return tags.range
    if out_rgb or out_float:
        return FULL
    return LIMITED
