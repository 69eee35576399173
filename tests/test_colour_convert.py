"""dcvsr_engine.colour: the pinned config, tags to spaces, and the invertible HDR mapping."""

from __future__ import annotations

import numpy as np
import PyOpenColorIO as ocio
import pytest
from dcvsr_protocol.errors import InputError

from dcvsr_engine.colour import CONFIG, ModelColour, config
from dcvsr_engine.colour.headroom import KNEE, peak, rolloff
from dcvsr_engine.colour.spaces import SPACES, space_for_tags


def ramp(n: int = 1024) -> np.ndarray:
    return np.repeat(np.linspace(0, 1, n, dtype=np.float32)[:, None, None], 3, axis=2)


def test_the_pinned_config_is_built_in_and_has_every_mapped_space():
    assert CONFIG.removeprefix("ocio://") in list(ocio.BuiltinConfigRegistry())
    names = {space.getName() for space in config().getColorSpaces()}
    assert set(SPACES.values()) <= names


@pytest.mark.parametrize("transfer, primaries, size, space, note", [
    (1, 1, (1920, 1080), "Rec.1886 Rec.709 - Display", None),
    (2, 2, (1920, 1080), "Rec.1886 Rec.709 - Display", "the default for 1920x1080 (HD or larger)"),
    (2, 2, (720, 576), "Rec.1886 Rec.709 - Display", "assumed 5, the default for 720x576 (SD)"),
    (6, 6, (720, 480), "Rec.1886 Rec.709 - Display", "BT.601 primaries (6) have no space"),
    (14, 9, (3840, 2160), "Rec.1886 Rec.2020 - Display", None),
    (13, 1, (64, 64), "sRGB - Display", None),
    (16, 9, (3840, 2160), "Rec.2100-PQ - Display", None),
    (18, 9, (3840, 2160), "Rec.2100-HLG - Display", None),
    (16, 12, (3840, 2160), "ST2084-P3-D65 - Display", None),
    (8, 9, (64, 64), "Linear Rec.2020", None),
    (4, 1, (64, 64), "Rec.1886 Rec.709 - Display", "transfer 4 has no space"),
])
def test_tags_map_to_spaces_of_the_config_with_notes_for_every_assumption(transfer, primaries, size, space,
                                                                          note):
    resolved = space_for_tags(transfer, primaries, *size)
    assert resolved.space == space
    assert (note is None) == (not resolved.notes)
    assert note is None or any(note in line for line in resolved.notes), resolved.notes


def test_sdr_rec709_and_srgb_pass_untouched():
    for tags in ((1, 1), (13, 1), (6, 6)):
        colour = ModelColour.for_clip(*tags, 64, 64)
        assert colour.is_identity
        frame = ramp()
        assert np.array_equal(colour.from_model(colour.to_model(frame)), frame)


def test_the_identity_costs_no_copy():
    """SDR Rec.709 in and out (most footage): the frames the model sees and returns are not copied."""
    colour = ModelColour.for_clip(1, 1, 64, 64)
    frame = ramp().astype(np.float32)
    assert colour.to_model(frame) is frame and colour.from_model(frame) is frame
    frames = np.stack([frame, frame])
    assert colour.from_model_frames(frames) is frames
    converted = ModelColour.for_clip(14, 9, 64, 64)  # BT.2020: converted, so the input stays as it was
    before = frames.copy()
    converted.from_model_frames(frames)
    assert np.array_equal(frames, before)


def test_bt2020_sdr_is_converted_by_opencolorio_into_rec709():
    colour = ModelColour.for_clip(14, 9, 64, 64)
    in_709 = np.random.default_rng(0).uniform(0.2, 0.6, (80, 30, 3)).astype(np.float32)  # strips on threads
    frame = in_709.copy()  # colours inside Rec.709, as BT.2020 values
    config().getProcessor("Rec.1886 Rec.709 - Display", "Rec.1886 Rec.2020 - Display") \
        .getDefaultCPUProcessor().applyRGB(frame)
    assert np.abs(frame - in_709).max() > 0.05
    assert np.abs(colour.to_model(frame) - in_709).max() < 1e-4  # a tenth of a 10-bit code
    assert np.abs(colour.from_model(colour.to_model(frame)) - frame).max() < 1e-4


def test_the_rolloff_is_the_identity_below_the_knee_and_reaches_one_at_the_peak():
    top = peak("Rec.2100-PQ - Display", hdr=True)
    proc = config().getProcessor(rolloff(top)).getDefaultCPUProcessor()
    x = np.array([[0.1] * 3, [0.5] * 3, [KNEE] * 3, [KNEE + 1e-4] * 3, [top] * 3], dtype=np.float32)
    y = x.copy()
    proc.applyRGB(y)
    assert np.allclose(y[:3], x[:3], atol=1e-6)
    assert (y[3, 0] - y[2, 0]) / 1e-4 == pytest.approx(1.0, abs=0.01)  # slope 1 at the knee: no kink
    assert y[4, 0] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match=r"over 1\.0"):
        rolloff(0.9)


@pytest.mark.parametrize("transfer", [16, 18])
def test_hdr_ramps_round_trip_far_inside_one_code_value(transfer):
    colour = ModelColour.for_clip(transfer, 9, 64, 64)
    frame = ramp()
    model = colour.to_model(frame)
    assert model.min() >= 0 and model.max() <= 1.0 + 1e-6
    assert np.abs(colour.from_model(model) - frame).max() * 1023 < 0.01


def test_scene_referred_input_is_mapped_invertibly_up_to_its_peak():
    colour = ModelColour.for_clip(1, 1, 64, 64, input_space="ACEScg")
    assert colour.headroom and colour.output_tags == (2, 2)  # ACEScg has no H.273 code
    linear = np.repeat(np.geomspace(1e-3, 15.0, 200, dtype=np.float32)[:, None, None], 3, axis=2)
    model = colour.to_model(linear)
    assert model.max() < 1.0 and np.all(np.diff(model[:, 0, 0]) > 0)
    assert np.allclose(colour.from_model(model), linear, rtol=1e-3, atol=1e-5)


def test_unknown_and_data_spaces_are_refused():
    with pytest.raises(InputError, match="not a colour space of the OpenColorIO config"):
        ModelColour.for_clip(1, 1, 64, 64, input_space="Rec.709ish")
    with pytest.raises(InputError, match="holds data"):
        ModelColour.for_clip(1, 1, 64, 64, output_space="Raw")
