"""Colour description of a clip, in ITU-T H.273 code points (the numbers FFmpeg and VapourSynth use)."""

from __future__ import annotations

import warnings

from dcvsr_protocol.colour import FULL, LIMITED, ColourTags

# H.273 MatrixCoefficients.
MATRIX_RGB = 0  # identity: the samples are already R, G, B (images, FFV1 RGB)
MATRIX_BT709 = 1
MATRIX_UNSPECIFIED = 2
MATRIX_FCC = 4
MATRIX_BT470BG = 5
MATRIX_SMPTE170M = 6
MATRIX_SMPTE240M = 7
MATRIX_YCGCO = 8
MATRIX_BT2020_NCL = 9
MATRIX_BT2020_CL = 10

# H.273 TransferCharacteristics / ColourPrimaries used as defaults here.
TRANSFER_BT709 = 1
TRANSFER_UNSPECIFIED = 2
TRANSFER_SRGB = 13
PRIMARIES_BT709 = 1
PRIMARIES_UNSPECIFIED = 2

# (Kr, Kb) luma weights of the Y'CbCr matrices this package converts itself.
_LUMA_WEIGHTS: dict[int, tuple[float, float]] = {
    MATRIX_BT709: (0.2126, 0.0722),
    MATRIX_FCC: (0.30, 0.11),
    MATRIX_BT470BG: (0.299, 0.114),
    MATRIX_SMPTE170M: (0.299, 0.114),
    MATRIX_SMPTE240M: (0.212, 0.087),
    MATRIX_BT2020_NCL: (0.2627, 0.0593),
    # Constant-luminance BT.2020 is decoded with the non-constant matrix: rare, and close.
    MATRIX_BT2020_CL: (0.2627, 0.0593),
}
YUV_MATRICES = frozenset(_LUMA_WEIGHTS) | {MATRIX_YCGCO}


# A clip's colour is a dcvsr_protocol.colour.ColourTags. For a video, its `matrix` and `range` are the
# ones the reader decoded with (an unspecified matrix is resolved from the frame size, see
# `default_matrix`), so a writer that reuses the tags encodes the way the input was decoded.
BT709 = ColourTags(MATRIX_BT709, TRANSFER_BT709, PRIMARIES_BT709, LIMITED)
# Images carry RGB samples with the sRGB curve and BT.709 primaries.
SRGB = ColourTags(MATRIX_RGB, TRANSFER_SRGB, PRIMARIES_BT709, FULL)


def default_matrix(width: int, height: int) -> int:
    """The matrix players assume for an untagged stream: BT.601 for SD sizes, BT.709 above."""
    return MATRIX_BT709 if width > 1024 or height > 576 else MATRIX_SMPTE170M


def resolve_matrix(matrix: int, width: int, height: int, source: str) -> int:
    """The Y'CbCr matrix to convert with; unknown or unsupported tags fall back to the size default."""
    if matrix in YUV_MATRICES:
        return matrix
    fallback = default_matrix(width, height)
    if matrix not in (MATRIX_UNSPECIFIED, MATRIX_RGB):
        warnings.warn(
            f"{source}: colour matrix {matrix} is not supported; decoding with matrix {fallback}",
            stacklevel=3,
        )
    return fallback


def luma_weights(matrix: int) -> tuple[float, float]:
    """(Kr, Kb) for a Y'CbCr matrix (not YCgCo, which has no luma weights)."""
    return _LUMA_WEIGHTS[matrix]
