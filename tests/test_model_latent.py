"""The latent space as a declared property of a model folder (dcvsr.json "latent", model/latent.py)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from dcvsr_protocol.errors import ModelError
from dcvsr_protocol.settings import Settings

from dcvsr_engine.cli import main
from dcvsr_engine.model import load_model, make_tiny
from dcvsr_engine.model.latent import SpaceToDepthLatent, VAELatent
from dcvsr_engine.model.vae_tiling import VAETiles
from dcvsr_engine.sampler.pipeline import DCVSRSampler
from tests.conftest import TEST_PRESET


@pytest.fixture(scope="module")
def s2d_dir(tmp_path_factory):
    return make_tiny(tmp_path_factory.mktemp("models") / "tiny-s2d", latent="space_to_depth")


@pytest.fixture(scope="module")
def s2d_model(s2d_dir):
    return load_model(s2d_dir, device="cpu", dtype="fp32")


@pytest.mark.parametrize(("factor", "scale", "shift"), [(4, 1.0, 0.0), (2, 0.5, 0.1), (1, 3.0, 0.0)])
def test_space_to_depth_round_trips(factor, scale, shift):
    space = SpaceToDepthLatent(factor, scale, shift)
    assert space.factor == factor and space.channels == 3 * factor ** 2
    frames = torch.rand(3, 3, 8 * factor, 4 * factor, generator=torch.Generator().manual_seed(0))
    cond = space.encode_condition(frames)
    target = space.encode_target(frames, cond)
    assert target.shape == cond.shape == (3, space.channels, 8, 4) and target.dtype == torch.float32
    torch.testing.assert_close(target, cond * scale)
    torch.testing.assert_close(space.decode(target, 2, cond), frames, rtol=0, atol=1e-6)
    # Decoding clamps what the sampler produces to [0, 1].
    wild = space.decode(torch.randn(2, space.channels, 3, 3) * 10, 1, torch.zeros(2, space.channels, 3, 3))
    assert wild.shape == (2, 3, 3 * factor, 3 * factor) and 0 <= wild.min() and wild.max() <= 1


def test_a_residual_space_denoises_what_the_condition_lacks():
    space = SpaceToDepthLatent(4, 8.0, residual=True)
    gen = torch.Generator().manual_seed(2)
    frames, upscaled = torch.rand(2, 3, 16, 16, generator=gen), torch.rand(2, 3, 16, 16, generator=gen)
    cond = space.encode_condition(upscaled)
    target = space.encode_target(frames, cond)
    torch.testing.assert_close(target, (space.encode_condition(frames) - cond) * 8.0)
    torch.testing.assert_close(space.decode(target, 2, cond), frames, rtol=0, atol=1e-6)
    # A zero latent decodes to the condition itself: the bicubic upscale.
    torch.testing.assert_close(space.decode(torch.zeros_like(cond), 2, cond), upscaled, rtol=0, atol=1e-6)


def test_a_decorrelated_condition_is_the_cell_mean_and_scaled_deviations_and_inverts():
    plain = SpaceToDepthLatent(4, 8.0, residual=True)
    space = SpaceToDepthLatent(4, 8.0, residual=True, detail_gain=8.0)
    gen = torch.Generator().manual_seed(3)
    frames, upscaled = torch.rand(2, 3, 16, 16, generator=gen), torch.rand(2, 3, 16, 16, generator=gen)
    cond, cells = space.encode_condition(upscaled), plain.encode_condition(upscaled).unflatten(1, (3, 16))
    assert cond.shape == (2, 48, 4, 4)
    mean = cells.mean(2)
    split = cond.unflatten(1, (3, 16))
    torch.testing.assert_close(split[:, :, 0], mean)
    torch.testing.assert_close(split[:, :, 1:], (cells[:, :, 1:] - mean[:, :, None]) * 8.0)
    # The target and the decoded frames are those of the plain space: only the UNet's input differs.
    target = space.encode_target(frames, cond)
    torch.testing.assert_close(target, plain.encode_target(frames, plain.encode_condition(upscaled)),
                               rtol=0, atol=1e-5)
    torch.testing.assert_close(space.decode(target, 2, cond), frames, rtol=0, atol=1e-5)


def test_vae_latent_is_todays_vae_conditioning(tiny_model):
    assert isinstance(tiny_model.latent, VAELatent) and tiny_model.latent.vae is tiny_model.vae
    assert (tiny_model.latent.factor, tiny_model.latent.channels) == (8, 4)
    frames = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    vae = tiny_model.vae
    with torch.no_grad():  # SVD's conventions, written out with the bare diffusers VAE
        mode = vae.encode(frames * 2.0 - 1.0).latent_dist.mode().float()
        target = mode * vae.config.scaling_factor
        decoded = torch.cat([((vae.decode(z / vae.config.scaling_factor, num_frames=z.shape[0]).sample.float()
                               + 1.0) / 2.0).clamp(0, 1) for z in target.split(2)])
    assert torch.equal(tiny_model.latent.encode_condition(frames), mode)
    assert torch.equal(tiny_model.latent.encode_target(frames, mode), target)
    assert torch.equal(tiny_model.latent.decode(target, 2, mode), decoded)


def test_vae_tiles_blend_a_pixelwise_map_exactly():
    """Tiles placed, weighted and normalised right: a map that is the same on a tile as on the frame
    (nearest upsampling, average pooling) gives the whole frame's result, whatever the grid."""
    tiles = VAETiles(tile=6, overlap=2, factor=4)
    z = torch.rand(3, 4, 17, 13, generator=torch.Generator().manual_seed(3))
    pieces = []

    def up(t):
        pieces.append(tuple(t.shape))
        return t.repeat_interleave(4, -2).repeat_interleave(4, -1)

    torch.testing.assert_close(tiles.decode(up, z), up(z), rtol=0, atol=1e-6)
    assert max(p[-1] for p in pieces[:-1]) == 6 and {p[0] for p in pieces} == {3}  # all frames in each tile
    assert len(pieces) - 1 == 4 * 3
    x = torch.rand(2, 3, 17 * 4, 13 * 4, generator=torch.Generator().manual_seed(4))
    pool = torch.nn.AvgPool2d(4)
    torch.testing.assert_close(tiles.encode(pool, x), pool(x), rtol=0, atol=1e-6)


def test_the_tiny_vae_tiles_frames_over_640_pixels(tiny_model):
    tiles = tiny_model.latent.tiles
    assert (tiles.tile, tiles.factor) == (80, 8)  # 512 MiB of decoder activations per frame at 32 channels
    assert not tiles.tiled(80, 80) and tiles.tiled(81, 80)
    assert tiles.area(270, 480) == 640 * 640 and tiles.area(60, 40) == 480 * 320


def test_a_tiled_vae_is_close_to_the_whole_frame(tiny_model):
    """The error vae_tiling.py states, on the tiny random VAE: 24-latent tiles of a 40-latent frame."""
    vae = tiny_model.vae
    whole, tiled = VAETiles(64, 16, 8), VAETiles(24, 8, 8)
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(2, 4, 40, 40, generator=gen)
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, 16, 16, generator=gen), size=(320, 320),
                                             mode="bicubic").clamp(0, 1) * 2 - 1

    def decode(t):
        return vae.decode(t, num_frames=t.shape[0]).sample

    def encode(t):
        return vae.encode(t).latent_dist.mode()

    with torch.no_grad():
        dec = (whole.decode(decode, z) - tiled.decode(decode, z)).abs() / 2  # in [0, 1] units
        enc = (whole.encode(encode, smooth) - tiled.encode(encode, smooth)).abs()
    assert dec.max() < 0.15 and dec.mean() < 0.01
    assert enc.max() < 1.0 and enc.mean() < 0.08


def test_tiny_space_to_depth_model_loads_without_a_vae(s2d_dir, s2d_model):
    assert not (s2d_dir / "vae").exists()
    info = json.loads((s2d_dir / "dcvsr.json").read_text())
    assert info["latent"] == {"kind": "space_to_depth", "factor": 4, "scale": 1.0}
    assert s2d_model.vae is None and isinstance(s2d_model.latent, SpaceToDepthLatent)
    assert (s2d_model.latent.factor, s2d_model.latent.channels) == (4, 48)
    assert (s2d_model.unet.config.in_channels, s2d_model.unet.config.out_channels) == (96, 48)


def test_space_to_depth_model_upscales_a_clip(s2d_model):
    rng = np.random.default_rng(0)
    frames = [rng.random((24, 24, 3), dtype=np.float32) for _ in range(4)]
    sampler = DCVSRSampler(s2d_model, Settings.for_model(None, **TEST_PRESET))
    assert sampler.plan.vae_factor == 4
    out = np.stack(list(sampler.upscale(frames, len(frames))))
    assert out.shape == (4, 48, 48, 3) and np.isfinite(out).all()
    assert 0 <= out.min() and out.max() <= 1


def test_mismatched_unet_channels_name_the_files(tmp_path, s2d_dir):
    folder = shutil.copytree(s2d_dir, tmp_path / "model")
    path = folder / "unet_ema" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "in_channels": 8}))
    with pytest.raises(ModelError) as err:
        load_model(folder, device="cpu")
    message = str(err.value)
    assert str(path) in message and str(folder / "dcvsr.json") in message and "in_channels" in message


def test_a_vae_model_declared_space_to_depth_is_refused(tmp_path, tiny_model_dir):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    info_path = folder / "dcvsr.json"
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, "latent": {"kind": "space_to_depth", "factor": 4}}))
    with pytest.raises(ModelError, match="in_channels"):
        load_model(folder, device="cpu")


@pytest.mark.parametrize("latent", [
    {"kind": "pixels"}, {"kind": "space_to_depth", "factor": 0}, {"kind": "space_to_depth", "factor": 2.5},
    {"kind": "space_to_depth", "scale": 0}, {"kind": "space_to_depth", "scale": "1"},
])
def test_bad_latent_entries_name_dcvsr_json(tmp_path, s2d_dir, latent):
    folder = shutil.copytree(s2d_dir, tmp_path / "model")
    info_path = folder / "dcvsr.json"
    info_path.write_text(json.dumps({**json.loads(info_path.read_text()), "latent": latent}))
    with pytest.raises(ModelError) as err:
        load_model(folder, device="cpu")
    assert str(info_path) in str(err.value) and "latent" in str(err.value)


def test_cli_makes_a_space_to_depth_tiny_model(tmp_path):
    assert main(["models", "make-tiny", "--latent", "space_to_depth", str(tmp_path / "m")]) == 0
    assert json.loads((tmp_path / "m" / "dcvsr.json").read_text())["latent"]["kind"] == "space_to_depth"
    assert not (tmp_path / "m" / "vae").exists()


def test_a_space_to_depth_model_trains_and_its_checkpoint_loads(tmp_path, s2d_dir):
    from dcvsr_engine.training.checkpoint import latest_checkpoint
    from dcvsr_engine.training.config import TrainConfig
    from dcvsr_engine.training.train import Trainer
    from tests.test_training_data import write_photo, write_sources

    write_photo(tmp_path / "photo.png", 120, 140)
    sources = write_sources(tmp_path, [{"path": "photo.png", "licence": "CC0-1.0", "origin": "synthetic"}])
    cfg = TrainConfig(data=str(sources), out=str(tmp_path / "run"), model=str(s2d_dir), unet="tiny", crop=64,
                      frames=2, device="cpu", log_every=1000, steps=2, checkpoint_every=2)
    trainer = Trainer(cfg, log=lambda line: None)
    enc = trainer.encode(*trainer.batch(0))
    assert enc.x0.shape == (1, 2, 48, 16, 16) and enc.cond.shape == enc.x0.shape
    trainer.run()
    assert len(trainer.losses) == 2 and all(np.isfinite(trainer.losses))
    folder = latest_checkpoint(tmp_path / "run")
    assert not (folder / "vae").exists()
    model = load_model(folder, device="cpu", dtype="fp32")
    assert isinstance(model.latent, SpaceToDepthLatent) and model.info["latent"]["kind"] == "space_to_depth"
