"""The invertible mapping of HDR and scene-referred values into the model's [0, 1] and back.

The model was trained on SDR display values. An HDR frame (PQ, HLG) or a scene-referred one (linear
or log camera footage) is first converted by OpenColorIO into the model's Rec.1886 Rec.709 display
encoding, where SDR white is 1.0 and brighter light is above it. Then, both in OpenColorIO transforms:

1. a scale puts the input's reference white at 1.0: HDR reference white is 203 nits (ITU-R BT.2408),
   which the config's display spaces (1.0 = 100 nits) put at (203/100)^(1/2.4); scene-referred white
   (1.0) is already at 1.0;
2. a roll-off keeps every value up to KNEE (0.85, 137 nits for HDR) exactly as an SDR grade of the
   input would show it, and above the knee compresses the rest of the input's range (up to the
   transfer's peak: 10000 nits for PQ, 1000 for HLG, 16x reference white for scene-referred
   spaces) into KNEE..1 with a logarithmic curve that joins the straight part with the same value
   and slope. That curve is OpenColorIO's LogCameraTransform (linear below its break, logarithmic
   above), whose parameters are solved here so that the peak lands on 1.0.

Both steps are invertible, so the model's output goes back through the inverse to the input's own
encoding. Measured (tests/test_colour_convert.py): 10-bit PQ and HLG ramps come back within 0.01 of
a code value in float; HDR reference white (203 nits) reaches the model at 0.904 (PQ) or 0.917
(HLG) where an SDR grade that clips at reference white would show 1.0, and everything up to 137
nits reaches it unchanged. Values over the peak, and colours outside Rec.709 (which the display
encoding clamps at zero), are clipped: the model cannot take them, and the sampler clips its input
to [0, 1] anyway. Near the peak one step of the model's output spans several code values of the
input (the price of fitting 10000 nits above 0.85), so PQ highlights are reproduced less finely by
the model than shadows and mid-tones, but never shifted: an unchanged value comes back unchanged.
"""

from __future__ import annotations

import math

import PyOpenColorIO as ocio

KNEE = 0.85
REFERENCE_WHITE_NITS = 203.0  # ITU-R BT.2408 HDR reference white
DISPLAY_WHITE_NITS = 100.0  # what 1.0 means in the config's display spaces
GAMMA = 2.4  # Rec.1886: the model space's encoding
# The brightest value each HDR display space can carry, in nits.
PEAK_NITS = {"Rec.2100-PQ - Display": 10000.0, "ST2084-P3-D65 - Display": 10000.0,
             "Rec.2100-HLG - Display": 1000.0}
SCENE_PEAK = 16.0  # scene-referred: 4 stops over reference white, relative


def reference_white_scale(hdr: bool) -> float:
    """The factor that takes reference white to 1.0 in the Rec.1886 encoding."""
    return (DISPLAY_WHITE_NITS / REFERENCE_WHITE_NITS) ** (1.0 / GAMMA) if hdr else 1.0


def peak(space: str, hdr: bool) -> float:
    """The input's peak, relative to reference white, in the Rec.1886 encoding."""
    relative = PEAK_NITS[space] / REFERENCE_WHITE_NITS if hdr else SCENE_PEAK
    return relative ** (1.0 / GAMMA)


def rolloff(top: float, knee: float = KNEE) -> ocio.LogCameraTransform:
    """Identity up to `knee`, then log(x + c) scaled so that `top` maps to 1.0, continuous in slope.

    Above the knee y = a ln(x + c) + d with a = knee + c (slope 1 at the knee), d = knee - a ln(a)
    (value knee there) and c solving a ln((top + c) / a) = 1 - knee, found by bisection (the left
    side grows with c from 0 to top - knee > 1 - knee, so there is one root).
    """
    if top <= 1.0:
        raise ValueError(f"the roll-off needs a peak over 1.0, got {top}")
    low, high = 0.0, top
    for _ in range(200):
        a = 0.5 * (low + high)
        if a * math.log((top - knee + a) / a) > 1.0 - knee:
            high = a
        else:
            low = a
    a = 0.5 * (low + high)
    transform = ocio.LogCameraTransform(
        linSideBreak=[knee] * 3, base=math.e, logSideSlope=[a] * 3,
        logSideOffset=[knee - a * math.log(a)] * 3, linSideSlope=[1.0] * 3, linSideOffset=[a - knee] * 3)
    transform.setLinearSlopeValue([1.0] * 3)
    return transform


def into_model_range(space: str, hdr: bool) -> list[ocio.Transform]:
    """Steps 1 and 2, after the conversion to the Rec.1886 Rec.709 encoding."""
    scale = reference_white_scale(hdr)
    return [ocio.MatrixTransform.Scale([scale, scale, scale, 1.0]), rolloff(peak(space, hdr))]
