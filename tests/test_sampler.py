"""The sampler on the tiny model: equivalences, the determinism contract across segments, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from dcvsr_protocol.errors import InputError

from dcvsr_engine.sampler.carry import CarriedState
from dcvsr_engine.sampler.conditioning import (
    image_embeddings,
    upscale_and_pad,
)
from dcvsr_engine.sampler.noise import clip_noise
from dcvsr_engine.sampler.pipeline import DCVSRSampler
from tests.conftest import TEST_PRESET, TORCH_THREADS

ROOT = Path(__file__).resolve().parents[1]


def clip(frames: int, height: int = 24, width: int = 24, seed: int = 0) -> list[np.ndarray]:
    """A smooth moving pattern with a little noise: enough structure for keys to differ between frames."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for f in range(frames):
        wave = np.sin((xx + 1.5 * f) / 3.0)[..., None] * np.cos(yy[..., None] / 4.0 + np.arange(3))
        base = 0.5 + 0.4 * wave
        out.append(np.clip(base + 0.05 * rng.standard_normal((height, width, 3)), 0, 1).astype(np.float32))
    return out


def render(model, frames, **settings) -> np.ndarray:
    sampler = DCVSRSampler(model, _settings(**settings))
    return np.stack(list(sampler.upscale(frames, len(frames))))


def _settings(**overrides):
    from dcvsr_protocol.settings import Settings

    return Settings.for_model(None, **{**TEST_PRESET, **overrides})


def test_one_tile_equals_the_untiled_loop(tiny_model):
    """One tile and one window covering the whole latent: the tiling machinery changes nothing."""
    frames = clip(5)
    settings = _settings(sap=False, tap=False, dssag=False, guidance=0.5, tile_size=64, tile_frames=8)
    sampler = DCVSRSampler(tiny_model, settings)
    tiled = np.stack(list(sampler.upscale(frames, len(frames))))

    # The reference: the plain EDM loop on the whole latent, written out here.
    model, sched = tiny_model, sampler.schedule
    lr = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
    geo = sampler.plan.geometry(24, 24)
    cond = model.latent.encode_condition(upscale_and_pad(lr, geo))
    embed = image_embeddings(model, lr).mean(0).view(1, 1, -1)
    x = clip_noise(0, range(5), 4, *geo.latent_hw) * sched.init_noise_sigma
    time_ids = torch.tensor([[6.0, 127.0, 0.0], [6.0, 127.0, 0.0]])
    with torch.no_grad():
        for i in range(settings.steps):
            sample = torch.cat([sched.model_input(x, i), cond], dim=1)[None].repeat(2, 1, 1, 1, 1)
            out = model.unet(sample, torch.tensor(sched.timesteps[i]),
                             encoder_hidden_states=torch.cat([torch.zeros_like(embed), embed]),
                             added_time_ids=time_ids).sample
            d = sched.denoised(x[None], out, i)
            x = sched.step(x, d[0] + 1.5 * (d[1] - d[0]), i)
        ref = model.latent.decode(x, settings.decode_chunk, cond)[:, :, :48, :48].permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(tiled, ref, atol=1e-5)


def test_a_single_window_with_tap_equals_no_tap(tiny_model):
    frames = clip(5)  # shorter than one window: TAP has no neighbour
    assert np.array_equal(render(tiny_model, frames, tap=True), render(tiny_model, frames, tap=False))


def test_dssag_with_a_gamma_that_changes_nothing_equals_plain_cfg(tiny_model):
    frames = clip(6)
    plain = render(tiny_model, frames, dssag=False)
    assert np.array_equal(render(tiny_model, frames, dssag=True, dssag_gamma_max=0.0), plain)
    # ... while a real gamma does change the result, so the check above can fail.
    assert not np.array_equal(render(tiny_model, frames, dssag=True, dssag_gamma_max=1.0), plain)


def test_one_tile_with_sap_equals_no_sap_and_runs_no_gather_pass(tiny_model):
    """With one tile the whole frame is the tile: SAP (and its gather pass) is skipped."""
    frames = clip(4)
    sampler = DCVSRSampler(tiny_model, _settings(sap=True, tile_size=64))
    with_sap = np.stack(list(sampler.upscale(frames, len(frames))))
    assert sampler.passes == TEST_PRESET["steps"]  # one window, one tile: one pass per step
    assert np.array_equal(with_sap, render(tiny_model, frames, sap=False, tile_size=64))


# 12x40 at scale 4: 48x160 output padded to 64x192, an 8x24 latent: two tiles of 16 overlapping by 8.
WIDE = dict(height=12, width=40)


def test_sap_over_several_tiles_changes_the_result_and_both_gathers_run(tiny_model):
    frames = clip(4, **WIDE)
    off = render(tiny_model, frames, sap=False, scale=4.0)
    previous = render(tiny_model, frames, sap=True, sap_gather="previous", scale=4.0)
    exact = render(tiny_model, frames, sap=True, sap_gather="exact", scale=4.0)
    assert off.shape == (4, 48, 160, 3)
    assert not np.array_equal(off, previous) and not np.array_equal(previous, exact)


def test_the_pass_count_matches_the_plan(tiny_model):
    frames = clip(14, **WIDE)
    for gather in ("previous", "exact"):
        sampler = DCVSRSampler(tiny_model, _settings(sap_gather=gather, scale=4.0))
        list(sampler.upscale(frames, 14))
        assert len(sampler.plan.spatial_grid(sampler.plan.geometry(12, 40)).tiles) == 2
        assert sampler.passes == sampler.plan.passes(14, 12, 40)


def test_seeds(tiny_model):
    frames = clip(4)
    a = render(tiny_model, frames, seed=1)
    assert np.array_equal(a, render(tiny_model, frames, seed=1))
    assert not np.array_equal(a, render(tiny_model, frames, seed=2))


def test_tap_carries_across_segments_and_nothing_else_does(tiny_model):
    frames = clip(24)  # two segments of 12
    edited = [f.copy() for f in frames]
    edited[10] = np.clip(edited[10][::-1] * 0.5, 0, 1)  # a change inside segment 0 only
    for tap, changes in ((True, True), (False, False)):
        a, b = render(tiny_model, frames, tap=tap), render(tiny_model, edited, tap=tap)
        assert not np.array_equal(a[:12], b[:12])
        assert (not np.array_equal(a[12:], b[12:])) == changes, f"tap={tap}"


CHILD = textwrap.dedent("""
    import sys, numpy as np, torch
    torch.set_num_threads({threads})
    from dcvsr_engine.model import load_model
    from dcvsr_engine.sampler.carry import CarriedState
    from dcvsr_engine.sampler.pipeline import DCVSRSampler
    from dcvsr_protocol.settings import Settings
    model = load_model({model!r}, device="cpu", dtype="fp32")
    sampler = DCVSRSampler(model, Settings.for_model(None, **{settings!r}))
    frames = np.load({frames!r})
    segs = sampler.plan.segments(len(frames))
    geo = sampler.plan.geometry(*frames.shape[1:3])
    for seg in segs[1:]:
        carry = CarriedState.load(f"{tmp}/carry{{seg.index}}.safetensors")
        following = segs[seg.index + 1].context if seg.index + 1 < len(segs) else 0
        out, carry = sampler.render_segment(seg, frames[seg.start:seg.stop], geo, carry, following)
        np.save(f"{tmp}/out{{seg.index}}.npy", out)
        if carry is not None:
            carry.save(f"{tmp}/carry{{seg.index + 1}}.safetensors")
""")


@pytest.mark.timeout(300)
def test_segment_by_segment_in_new_processes_is_bit_identical(tiny_model, tiny_model_dir, tmp_path):
    frames = np.stack(clip(30))  # segments [0, 12), [12, 24), [24, 30)
    sampler = DCVSRSampler(tiny_model, _settings())
    assert len(sampler.plan.segments(30)) == 3
    whole = np.stack(list(sampler.upscale(list(frames), 30)))

    # Segment 0 here, its state to disk; segments 1 and 2 in a new process, each state through disk.
    seg0, seg1, _ = sampler.plan.segments(30)
    geo = sampler.plan.geometry(24, 24)
    first, carry = sampler.render_segment(seg0, frames[:12], geo, None, seg1.context)
    carry.save(tmp_path / "carry1.safetensors")
    np.save(tmp_path / "frames.npy", frames)
    script = CHILD.format(threads=TORCH_THREADS, model=str(tiny_model_dir), settings=TEST_PRESET,
                          frames=str(tmp_path / "frames.npy"), tmp=str(tmp_path))
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT, timeout=240,
                   env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(TORCH_THREADS),
                        "PATH": "/usr/bin:/bin"})
    pieces = [first] + [np.load(tmp_path / f"out{i}.npy") for i in (1, 2)]
    assert np.array_equal(np.concatenate(pieces), whole)
    state = CarriedState.load(tmp_path / "carry1.safetensors")
    assert state.next_frame == 12 and state.context == 3 and state.trajectory.shape[0] == TEST_PRESET["steps"]


def test_a_carried_state_from_elsewhere_is_refused(tiny_model, tmp_path):
    frames = np.stack(clip(24))
    sampler = DCVSRSampler(tiny_model, _settings())
    seg0, seg1 = sampler.plan.segments(24)
    geo = sampler.plan.geometry(24, 24)
    _, carry = sampler.render_segment(seg0, frames[:12], geo, None, seg1.context)
    other = DCVSRSampler(tiny_model, _settings(seed=5))
    with pytest.raises(InputError, match="carried state"):
        other.render_segment(seg1, frames[12:], geo, carry)
    with pytest.raises(InputError, match="needs the previous segment"):
        sampler.render_segment(seg1, frames[12:], geo, None)
    (tmp_path / "bad.safetensors").write_bytes(b"not a state")
    with pytest.raises(InputError, match=r"bad\.safetensors"):
        CarriedState.load(tmp_path / "bad.safetensors")


@pytest.mark.parametrize("height,width,count", [(9, 13, 1), (17, 8, 3)])
def test_any_size_and_length_is_padded_and_cropped(tiny_model, height, width, count):
    out = render(tiny_model, clip(count, height, width))
    assert out.shape == (count, 2 * height, 2 * width, 3)
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_bad_input_is_named(tiny_model):
    sampler = DCVSRSampler(tiny_model, _settings())
    with pytest.raises(InputError, match="no frames"):
        list(sampler.upscale([], 0))
    bad = clip(3)
    bad[1] = bad[1].copy()
    bad[1][2, 3, 0] = np.nan
    with pytest.raises(InputError, match="frame 1: contains NaN"):
        list(sampler.upscale(bad, 3))
    with pytest.raises(InputError, match="minimum of 8 pixels"):
        list(sampler.upscale(clip(2, 6, 20), 2))
    with pytest.raises(InputError, match="ended at frame 2"):
        list(sampler.upscale(clip(2), 3))
    with pytest.raises(InputError, match="differs"):
        list(sampler.upscale(clip(1) + clip(1, 30, 24), 2))


def test_a_tile_size_the_unet_cannot_take_is_refused(tiny_model):
    from dcvsr_protocol.errors import SettingsError

    with pytest.raises(SettingsError, match="multiple of 8"):
        DCVSRSampler(tiny_model, _settings(tile_size=20))


def test_settings_reach_the_session_key():
    a, b = _settings(), _settings(sap_gather="exact")
    assert a.key() != b.key() and a.key() == _settings().key()
    assert json.loads(json.dumps(a.to_dict())) == a.to_dict()
