"""H.273 colour tags (transfer, primaries) <-> colour spaces of the pinned OpenColorIO config.

Only transfer and primaries are OCIO's business: the Y'CbCr matrix and the range are undone by the
decoder and redone by the encoder (PyAV), so what reaches OCIO is R'G'B' in [0, 1].

The config has no space with BT.601 primaries (SMPTE 170M / 240M, EBU 3213 "BT.470BG", BT.470M).
SD footage is decoded as Rec.709 primaries: their chromaticities differ by about as much as two
SD monitors did, players and broadcast up-conversion do the same, and because the output is tagged
and converted back with the same choice the round trip stays exact; the log says so. Transfers the
config lacks (BT.470 gamma curves, SMPTE 240M, log tags in video streams) are read as
Rec.1886 with a note; `--input-colorspace` names the right space when the tags are wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

# H.273 TransferCharacteristics
TRANSFER_BT709, TRANSFER_UNSPECIFIED, TRANSFER_BT601, TRANSFER_LINEAR = 1, 2, 6, 8
TRANSFER_SRGB, TRANSFER_BT2020_10, TRANSFER_BT2020_12, TRANSFER_PQ, TRANSFER_HLG = 13, 14, 15, 16, 18
# H.273 ColourPrimaries
PRIMARIES_BT709, PRIMARIES_UNSPECIFIED, PRIMARIES_BT470M, PRIMARIES_BT470BG = 1, 2, 4, 5
PRIMARIES_SMPTE170M, PRIMARIES_SMPTE240M, PRIMARIES_BT2020, PRIMARIES_P3_D65 = 6, 7, 9, 12

REC1886, SRGB, PQ, HLG, LINEAR = "rec1886", "srgb", "pq", "hlg", "linear"
_FAMILIES = {TRANSFER_BT709: REC1886, TRANSFER_BT601: REC1886, TRANSFER_BT2020_10: REC1886,
             TRANSFER_BT2020_12: REC1886, TRANSFER_SRGB: SRGB, TRANSFER_PQ: PQ, TRANSFER_HLG: HLG,
             TRANSFER_LINEAR: LINEAR}
_BT601_PRIMARIES = frozenset({PRIMARIES_BT470M, PRIMARIES_BT470BG, PRIMARIES_SMPTE170M, PRIMARIES_SMPTE240M})

# (transfer family, primaries) -> the config's display colour space.
SPACES = {
    (REC1886, PRIMARIES_BT709): "Rec.1886 Rec.709 - Display",
    (REC1886, PRIMARIES_BT2020): "Rec.1886 Rec.2020 - Display",
    (SRGB, PRIMARIES_BT709): "sRGB - Display",
    (SRGB, PRIMARIES_P3_D65): "Display P3 - Display",
    (PQ, PRIMARIES_BT2020): "Rec.2100-PQ - Display",
    (PQ, PRIMARIES_P3_D65): "ST2084-P3-D65 - Display",
    (HLG, PRIMARIES_BT2020): "Rec.2100-HLG - Display",
    (LINEAR, PRIMARIES_BT709): "Linear Rec.709 (sRGB)",
    (LINEAR, PRIMARIES_BT2020): "Linear Rec.2020",
    (LINEAR, PRIMARIES_P3_D65): "Linear P3-D65",
}
# The tags written for each space (the family's usual transfer code).
_TRANSFER_OF = {REC1886: TRANSFER_BT709, SRGB: TRANSFER_SRGB, PQ: TRANSFER_PQ, HLG: TRANSFER_HLG,
                LINEAR: TRANSFER_LINEAR}
TAGS = {space: (_TRANSFER_OF[family], primaries) for (family, primaries), space in SPACES.items()}
# The primaries a family falls back to when the tagged pair has no space.
_FAMILY_PRIMARIES = {REC1886: PRIMARIES_BT709, SRGB: PRIMARIES_BT709, PQ: PRIMARIES_BT2020,
                     HLG: PRIMARIES_BT2020, LINEAR: PRIMARIES_BT709}


@dataclass(frozen=True)
class Resolved:
    space: str  # a colour space of the config
    notes: tuple[str, ...]  # what was assumed, for the log


def is_sd(width: int, height: int) -> bool:
    return width <= 1024 and height <= 576


def default_tags(width: int, height: int) -> tuple[int, int]:
    """(transfer, primaries) players assume for an untagged stream: BT.601 for SD sizes, BT.709 above."""
    if not is_sd(width, height):
        return TRANSFER_BT709, PRIMARIES_BT709
    return TRANSFER_BT601, PRIMARIES_BT470BG if height == 576 else PRIMARIES_SMPTE170M


def space_for_tags(transfer: int, primaries: int, width: int, height: int) -> Resolved:
    """The colour space a stream's tags describe, with notes on every assumption made."""
    notes: list[str] = []
    default_transfer, default_primaries = default_tags(width, height)
    size = f"{width}x{height} ({'SD' if is_sd(width, height) else 'HD or larger'})"
    if transfer == TRANSFER_UNSPECIFIED:
        transfer = default_transfer
        notes.append(f"the transfer is not tagged: assumed {transfer} (BT.709/BT.601 curve), the default "
                     f"for {size}")
    if primaries == PRIMARIES_UNSPECIFIED:
        primaries = default_primaries
        notes.append(f"the primaries are not tagged: assumed {primaries}, the default for {size}")
    family = _FAMILIES.get(transfer)
    if family is None:
        family = REC1886
        notes.append(f"transfer {transfer} has no space in the OpenColorIO config: read as Rec.1886 "
                     "(give --input-colorspace if that is wrong)")
    if primaries in _BT601_PRIMARIES:
        notes.append(f"BT.601 primaries ({primaries}) have no space in the OpenColorIO config: read as "
                     "Rec.709 primaries, as players do; the output is tagged and converted back the same way")
        primaries = PRIMARIES_BT709
    space = SPACES.get((family, primaries))
    if space is None:
        fallback = _FAMILY_PRIMARIES[family]
        space = SPACES[(family, fallback)]
        notes.append(f"primaries {primaries} with transfer {transfer} have no space in the OpenColorIO "
                     f"config: read as {space} (give --input-colorspace if that is wrong)")
    return Resolved(space, tuple(notes))


def tags_for_space(space: str) -> tuple[int, int] | None:
    """(transfer, primaries) to tag a file in `space` with; None when H.273 has no code for it."""
    return TAGS.get(space)


def model_space(space: str, encoding: str) -> str:
    """The display encoding the model sees for an input in `space`: the one its training data had.

    The model learnt from photos (sRGB) and videos (Rec.1886) as their code values, so an SDR input
    keeps its transfer family and only changes primaries; HDR and scene-referred inputs go to
    Rec.1886 Rec.709 and then through the headroom mapping.
    """
    srgb_family = {SPACES[(SRGB, PRIMARIES_BT709)], SPACES[(SRGB, PRIMARIES_P3_D65)],
                   "sRGB Encoded Rec.709 (sRGB)", "sRGB Encoded P3-D65", "sRGB Encoded AP1"}
    if encoding == "sdr-video" and space in srgb_family:
        return SPACES[(SRGB, PRIMARIES_BT709)]
    return SPACES[(REC1886, PRIMARIES_BT709)]
