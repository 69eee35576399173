"""The colour tags of a clip: four ITU-T H.273 code points, the one spelling every layer uses.

The protocol's OPEN message and slot headers carry them, the engine's renderers and file readers and
writers keep them, the VapourSynth plugin reads them from frame props. Plain data with no colour
maths: what a code means (luma weights, transfer curves) is the business of whoever converts.
`range` is VapourSynth's `_Range`: 1 full (0-255 at 8 bits), 0 limited (16-235).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

UNSPECIFIED = 2
RGB_MATRIX = 0  # MatrixCoefficients 0: the samples are already R, G, B
FULL, LIMITED = 1, 0
FIELDS = ("matrix", "transfer", "primaries", "range")


@dataclass(frozen=True)
class ColourTags:
    """H.273 MatrixCoefficients, TransferCharacteristics, ColourPrimaries, and the range (1 full)."""

    matrix: int = UNSPECIFIED
    transfer: int = UNSPECIFIED
    primaries: int = UNSPECIFIED
    range: int = FULL

    def __post_init__(self) -> None:
        codes = (self.matrix, self.transfer, self.primaries)
        if any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 255 for c in codes):
            raise ValueError(f"colour tags must be H.273 code points 0..255, got {codes}")
        if self.range not in (FULL, LIMITED) or isinstance(self.range, bool):
            raise ValueError(f"colour range must be {FULL} (full) or {LIMITED} (limited), got {self.range!r}")

    @property
    def full_range(self) -> bool:
        return self.range == FULL

    def as_fields(self) -> dict[str, int]:
        """The four fields by name, as the OPEN message and the slot header carry them."""
        return asdict(self)

    @classmethod
    def from_fields(cls, fields: Mapping[str, int]) -> ColourTags:
        """Tags from a mapping holding (some of) the four names; the others stay unspecified/full."""
        return cls(**{name: fields[name] for name in FIELDS if name in fields})

    def as_rgb(self) -> ColourTags:
        """The same clip as full-range RGB samples (matrix 0): transfer and primaries kept."""
        return replace(self, matrix=RGB_MATRIX, range=FULL)
