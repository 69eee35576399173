"""Training: the parameterisation matches the sampler, overfitting works, checkpoints load and sample,
and a resumed run is bit-identical to an uninterrupted one."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from dcvsr_protocol.errors import SettingsError
from safetensors.torch import load_file

from dcvsr_engine.cli import main
from dcvsr_engine.model import load_model
from dcvsr_engine.model.svd import svd_scheduler_config
from dcvsr_engine.model.tiny import tiny_unet_config
from dcvsr_engine.sampler.pipeline import DCVSRSampler
from dcvsr_engine.sampler.schedule import Schedule
from dcvsr_engine.training import edm
from dcvsr_engine.training.checkpoint import DATA_MANIFEST, STATE_DIR, latest_checkpoint
from dcvsr_engine.training.config import TrainConfig
from dcvsr_engine.training.state import TENSORS
from dcvsr_engine.training.train import Trainer
from dcvsr_engine.training.unets import build_unet
from tests.test_training_data import write_photo, write_sources, write_video

QUIET = lambda line: None  # noqa: E731


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train-data")
    write_photo(root / "photo.png", 120, 140)
    write_video(root / "video.mp4", frames=6, height=80, width=96)
    return write_sources(root, [{"path": "photo.png", "licence": "CC0-1.0", "origin": "synthetic"},
                                {"path": "video.mp4", "licence": "CC0-1.0", "origin": "synthetic"}])


def config(sources: Path, out: Path, base: Path, **overrides) -> TrainConfig:
    values = dict(data=str(sources), out=str(out), model=str(base), unet="tiny", crop=64, frames=2,
                  device="cpu", log_every=1000)
    return TrainConfig(**{**values, **overrides})


def test_preconditioning_is_what_the_sampler_inverts():
    from diffusers import EulerDiscreteScheduler

    schedule = Schedule.from_scheduler(EulerDiscreteScheduler.from_config(svd_scheduler_config()), 12)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, 4, 3, 3, generator=gen)
    out = torch.randn(1, 2, 4, 3, 3, generator=gen)
    for i in range(schedule.steps):
        pre = edm.preconditioning(torch.tensor([schedule.sigmas[i]]))
        assert math.isclose(pre.c_noise.item(), schedule.timesteps[i], rel_tol=1e-5, abs_tol=1e-6)
        torch.testing.assert_close(pre.c_in * x, schedule.model_input(x, i))
        torch.testing.assert_close(edm.denoised(x, out, pre), schedule.denoised(x, out, i))


def test_the_plain_loss_is_the_edm_weighted_loss():
    gen = torch.Generator().manual_seed(1)
    sigma = torch.tensor([0.01, 0.5, 3.0, 80.0])
    x0 = torch.randn(4, 2, 4, 3, 3, generator=gen)
    noisy = x0 + sigma.view(-1, 1, 1, 1, 1) * torch.randn(x0.shape, generator=gen)
    out = torch.randn(x0.shape, generator=gen)
    pre = edm.preconditioning(sigma)
    plain = ((out - edm.target(x0, noisy, pre)) ** 2).mean(dim=(1, 2, 3, 4))
    weighted = edm.loss_weight(sigma) * ((edm.denoised(noisy, out, pre) - x0) ** 2).mean(dim=(1, 2, 3, 4))
    torch.testing.assert_close(plain, weighted, rtol=1e-4, atol=1e-6)
    # Output == target gives the clean latent back.
    torch.testing.assert_close(edm.denoised(noisy, edm.target(x0, noisy, pre), pre), x0, rtol=1e-4, atol=1e-4)


def test_a_few_steps_overfit_a_fixed_batch(sources, tmp_path, tiny_model_dir):
    trainer = Trainer(config(sources, tmp_path / "run", tiny_model_dir, frames=2, lr=1e-3, cond_drop=0.0,
                             degradation="clean", grad_clip=0.0), log=QUIET)
    enc = trainer.encode(*trainer.batch(0))
    gen = torch.Generator().manual_seed(123)
    probes = [(torch.tensor([s]), torch.randn(enc.x0.shape, generator=gen)) for s in (0.3, 1.5, 6.0, 30.0)]

    def probe_loss() -> float:
        with torch.no_grad():
            return sum(trainer.loss(enc, s, n, torch.ones(1)).item() for s, n in probes) / len(probes)

    before = probe_loss()
    losses = [trainer.optimise(enc, step) for step in range(20)]
    after = probe_loss()
    assert all(math.isfinite(v) for v in losses)
    # The same clip, noise levels and noise as before: fitted, not a lucky draw (about 0.6x here).
    assert after < 0.75 * before, (before, after)


def test_several_scales_train_one_model_a_scale_per_step(sources, tmp_path, tiny_model_dir):
    trainer = Trainer(config(sources, tmp_path / "run", tiny_model_dir, scale=(2.0, 4.0),
                             degradation="clean"), log=QUIET)
    sizes = set()
    for step in range(8):
        hr, lr, footage = trainer.batch(step)
        assert hr.shape[-1] in (2 * lr.shape[-1], 4 * lr.shape[-1])
        sizes.add(lr.shape[-1])
        enc = trainer.encode(hr, lr, footage)  # the condition is the matching upscale to the crop
        assert enc.cond.shape == enc.x0.shape
    assert sizes == {32, 16}
    assert TrainConfig(data="d", out="o", scale=3.0).scale == (3.0,)
    with pytest.raises(SettingsError, match="scale"):
        TrainConfig(data="d", out="o", scale=(2.0, -1.0))


def test_cli_checkpoint_loads_and_upscales_a_clip(sources, tmp_path, tiny_model_dir):
    out = tmp_path / "run"
    code = main(["train", "--data", str(sources), "--out", str(out), "--model", str(tiny_model_dir),
                 "--unet", "tiny", "--steps", "2", "--checkpoint-every", "1", "--keep", "1", "--crop", "64",
                 "--frames", "2", "--device", "cpu", "--seed", "3"])
    assert code == 0
    folder = latest_checkpoint(out)
    assert folder is not None and folder.name == "step-00000002"
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000002"]  # --keep 1
    assert not [p for p in folder.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl")]
    assert json.loads((folder / DATA_MANIFEST).read_text())["licences"] == ["CC0-1.0"]
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    model = load_model(folder, device="cpu", dtype="fp32")
    state = load_file(str(folder / STATE_DIR / TENSORS))
    for name, p in model.unet.named_parameters():  # unet_ema holds the EMA, not the trained weights
        assert torch.equal(p, state[f"ema/{name}"])
    assert model.info["training"]["step"] == 2 and model.info["training"]["unet"] == "tiny"

    sampler = DCVSRSampler.open(model, scale=4.0)
    rng = np.random.default_rng(0)
    frames = [rng.random((24, 24, 3), dtype=np.float32) for _ in range(4)]
    result = np.stack(list(sampler.upscale(frames, len(frames))))
    assert result.shape == (4, 96, 96, 3) and np.isfinite(result).all()


def _final_state(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(latest_checkpoint(out) / STATE_DIR / TENSORS))


def test_resume_is_bit_identical_to_an_uninterrupted_run(sources, tmp_path, tiny_model_dir):
    whole, split = tmp_path / "whole", tmp_path / "split"
    Trainer(config(sources, whole, tiny_model_dir, steps=4, checkpoint_every=4), log=QUIET).run()
    Trainer(config(sources, split, tiny_model_dir, steps=2, checkpoint_every=2), log=QUIET).run()
    with pytest.raises(SettingsError, match="--resume"):
        Trainer(config(sources, split, tiny_model_dir, steps=4), log=QUIET)
    with pytest.raises(SettingsError, match="ema_decay"):
        Trainer(config(sources, split, tiny_model_dir, steps=4, ema_decay=0.9), resume=True, log=QUIET)
    resumed = Trainer(config(sources, split, tiny_model_dir, steps=4, checkpoint_every=4), resume=True,
                      log=QUIET)
    assert resumed.step == 2
    resumed.run()

    a, b = _final_state(whole), _final_state(split)
    assert a.keys() == b.keys() and any(k.startswith("adam/exp_avg_sq/") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    meta = [json.loads((latest_checkpoint(o) / STATE_DIR / "state.json").read_text()) for o in (whole, split)]
    assert meta[0]["step"] == meta[1]["step"] == 4 and meta[0]["losses"] == meta[1]["losses"]
    first = load_file(str(whole / "checkpoints" / "step-00000004" / "unet_ema" /
                          "diffusion_pytorch_model.safetensors"))
    second = load_file(str(split / "checkpoints" / "step-00000004" / "unet_ema" /
                           "diffusion_pytorch_model.safetensors"))
    assert all(torch.equal(first[k], second[k]) for k in first)
    # And training did something: the parameters moved from their initial values.
    initial = dict(build_unet(tiny_unet_config(), seed=0).named_parameters())
    assert not any(torch.equal(initial[k], a[f"param/{k}"]) for k in ("conv_in.weight", "conv_out.weight"))


def test_cli_refuses_a_source_without_licence_before_loading_anything(tmp_path, capsys):
    (tmp_path / "a.png").write_bytes(b"")
    data = write_sources(tmp_path, [{"path": "a.png", "origin": "somewhere"}])
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 2
    assert "no licence" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
