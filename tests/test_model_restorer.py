"""The restorer (model/restorer.py) and its fitting (training/restorer.py): equivalences, the closed-form
fit, the files, and the `footage` setting that picks a bank."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from dcvsr_protocol.errors import ModelError, SettingsError
from dcvsr_protocol.settings import Settings

from dcvsr_engine.model import load_model
from dcvsr_engine.model.restorer import (
    BUCKETS,
    FOLDER,
    FOOTAGE,
    TAPS,
    WEIGHTS,
    Restorer,
    load_restorer,
    neighbourhood,
    save_restorer,
)
from dcvsr_engine.sampler.conditioning import condition_frames, geometry, upscale_and_pad
from dcvsr_engine.sampler.pipeline import DCVSRSampler
from dcvsr_engine.training.degrade import CLEAN, DegradeConfig, degrade, draw_config
from dcvsr_engine.training.restorer import MARGIN, NormalEquations


def random_restorer(scale: float = 0.02, seed: int = 0) -> Restorer:
    g = torch.Generator().manual_seed(seed)
    banks = {name: torch.randn(BUCKETS, TAPS, generator=g) * scale for name in FOOTAGE}
    return Restorer(torch.tensor([0.005, 0.02]), torch.tensor([0.2, 0.5]), banks)


def frames(n: int = 2, h: int = 40, w: int = 56, seed: int = 0) -> torch.Tensor:
    """Smooth random pictures with edges in every direction, away from 0 and 1 (no clamping)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, h // 8, w // 8, generator=g)
    up = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
    return (0.25 + 0.5 * up.clamp(0, 1)).contiguous()


def reference(restorer: Restorer, x: torch.Tensor, footage: str) -> torch.Tensor:
    """The restorer as the fit defines it: each pixel's row of neighbours times its bucket's filter."""
    w = restorer.banks[footage][restorer.bucket(x)]  # (N, H, W, TAPS)
    return x + (neighbourhood(x) * w[:, None]).sum(-1)


def test_zero_filters_are_the_bicubic_upscale():
    zero = Restorer(torch.tensor([0.01, 0.03]), torch.tensor([0.2, 0.5]),
                    {name: torch.zeros(BUCKETS, TAPS) for name in FOOTAGE})
    x = frames()
    assert torch.equal(zero.apply(x), x)


def test_apply_is_the_per_pixel_filter_the_fit_solves_for():
    r, x = random_restorer(), frames()
    for footage in FOOTAGE:
        assert torch.allclose(r.apply(x, footage), reference(r, x, footage).clamp(0, 1), atol=1e-5)


def test_the_fit_reproduces_targets_that_filters_made():
    r, x = random_restorer(0.01), frames(8, 96, 96)
    target = reference(r, x, "auto")
    eq = NormalEquations()
    eq.add(r, target, x)
    fitted = Restorer(r.strength_edges, r.coherence_edges, {name: eq.solve(ridge=0.0) for name in FOOTAGE})
    inner = (slice(None), slice(None), slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    assert (target - x)[inner].abs().mean() > 1e-3  # the filters do change the frames
    assert torch.allclose(fitted.apply(x)[inner], target[inner], atol=1e-4)


def test_the_files_round_trip_and_bad_ones_are_refused(tmp_path):
    r = random_restorer()
    save_restorer(tmp_path / FOLDER, r)
    back = load_restorer(tmp_path / FOLDER)
    assert all(torch.equal(back.banks[k], r.banks[k]) for k in FOOTAGE)
    config = json.loads((tmp_path / FOLDER / "config.json").read_text())
    (tmp_path / FOLDER / "config.json").write_text(json.dumps({**config, "side": 5}))
    with pytest.raises(ModelError, match="side must be 7"):
        load_restorer(tmp_path / FOLDER)
    (tmp_path / FOLDER / "config.json").write_text(json.dumps(config))
    bad = Restorer(r.strength_edges, r.coherence_edges, {**r.banks, "clean": torch.zeros(BUCKETS, 3)})
    save_restorer(tmp_path / FOLDER, bad)
    with pytest.raises(ModelError, match=r"bank.clean must be finite and of shape \(144, 50\)"):
        load_restorer(tmp_path / FOLDER)
    (tmp_path / FOLDER / WEIGHTS).unlink()
    with pytest.raises(ModelError, match="missing model file"):
        load_restorer(tmp_path / FOLDER)


@pytest.fixture(scope="module")
def restored_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with a restorer of strong random filters (so every bank visibly differs)."""
    dest = tmp_path_factory.mktemp("restored") / "model"
    shutil.copytree(tiny_model_dir, dest)
    save_restorer(dest / FOLDER, random_restorer(0.05))
    info = json.loads((dest / "dcvsr.json").read_text())
    info["latent"] = {**info["latent"], "restorer": True}
    (dest / "dcvsr.json").write_text(json.dumps(info))
    return dest


def test_a_model_declares_its_restorer_and_the_loader_checks_it(restored_model_dir, tiny_model_dir, tmp_path):
    model = load_model(restored_model_dir, device="cpu", dtype="fp32")
    assert model.restorer is not None and load_model(tiny_model_dir, device="cpu").restorer is None
    assert model.fingerprint != load_model(tiny_model_dir, device="cpu").fingerprint
    broken = tmp_path / "broken"
    shutil.copytree(restored_model_dir, broken)
    shutil.rmtree(broken / FOLDER)
    with pytest.raises(ModelError, match="missing model file"):
        load_model(broken, device="cpu")


def test_the_condition_is_the_restored_upscale_of_the_chosen_footage(restored_model_dir, tiny_model):
    model = load_model(restored_model_dir, device="cpu", dtype="fp32")
    lr = frames(2, 16, 24)
    geo = geometry(16, 24, 2.0, 8, 8)
    up = upscale_and_pad(lr, geo)
    assert torch.equal(condition_frames(tiny_model, lr, geo, "clean"), up)  # no restorer: ignored
    conds = {f: condition_frames(model, lr, geo, f) for f in FOOTAGE}
    assert torch.equal(conds["clean"], model.restorer.apply(up, "clean"))
    assert not torch.equal(conds["clean"], conds["degraded"]) and not torch.equal(conds["auto"], up)


def test_footage_changes_the_pixels_only_of_a_model_with_a_restorer(restored_model_dir, tiny_model, preset):
    lr = np.random.default_rng(0).random((6, 16, 24, 3), dtype=np.float32)
    model = load_model(restored_model_dir, device="cpu", dtype="fp32")

    def run(m, footage):
        return np.stack(list(DCVSRSampler(m, preset(footage=footage)).upscale(iter(lr), len(lr))))

    assert np.array_equal(run(tiny_model, "clean"), run(tiny_model, "degraded"))
    assert not np.array_equal(run(model, "clean"), run(model, "degraded"))
    assert preset(footage="clean").key() != preset(footage="degraded").key()
    with pytest.raises(SettingsError, match="footage must be one of auto, clean, degraded"):
        Settings.for_model(None, footage="noisy")


def test_draw_config_is_the_draw_degrade_makes():
    mixture = DegradeConfig(clean_prob=0.5, blur_prob=0.0, noise_prob=1.0, gaussian_prob=1.0,
                            gaussian_sigma=(20.0, 20.0), jpeg_prob=0.0, video_prob=0.0)
    hr = frames(2, 32, 32)
    seen = set()
    for seed in range(12):
        clean = draw_config(mixture, np.random.default_rng(seed)) is CLEAN
        lr = degrade(hr, mixture, 2.0, np.random.default_rng(seed))
        reference_clean = degrade(hr, CLEAN, 2.0, np.random.default_rng(seed))
        assert torch.equal(lr, reference_clean) == clean
        seen.add(clean)
    assert seen == {True, False}


def test_training_conditions_each_clip_on_its_footage_bank_and_checkpoints_keep_the_restorer(
        restored_model_dir, tmp_path):
    from dcvsr_engine.training.train import Trainer
    from tests.test_training_data import write_photo, write_sources
    from tests.test_training_train import QUIET, config

    write_photo(tmp_path / "photo.png", 120, 140)
    sources = write_sources(tmp_path, [{"path": "photo.png", "licence": "CC0-1.0", "origin": "synthetic"}])
    mixture = tmp_path / "mixture.json"
    mixture.write_text(json.dumps({"preset": "realistic", "clean_prob": 0.5, "video_prob": 0.0}))
    trainer = Trainer(config(sources, tmp_path / "run", restored_model_dir, unet="finetune", batch=4,
                             scale=(2.0,), degradation=str(mixture), steps=1, checkpoint_every=1), log=QUIET)
    seen = set()
    for step in range(4):
        hr, lr, footage = trainer.batch(step)
        seen.update(footage)
        enc = trainer.encode(hr, lr, footage)
        geo = trainer.geometries[tuple(lr.shape[-2:])]
        for b, kind in enumerate(footage):
            restored = condition_frames(trainer.model, lr[b], geo, kind)
            expected = trainer.model.latent.encode_condition(restored)
            torch.testing.assert_close(enc.cond[b], expected)
            # A clip labelled clean or degraded was degraded that way (clean LR is the plain downscale).
            clean = degrade(hr[b], CLEAN, 2.0, np.random.default_rng(0))
            if kind != "auto":
                assert torch.equal(lr[b], clean) == (kind == "clean")
    assert seen == set(FOOTAGE)
    checkpoint = trainer.run()
    assert load_model(checkpoint, device="cpu").restorer is not None


def test_fit_restorer_fits_every_bank_from_the_sources(tmp_path):
    from dcvsr_engine.training.restorer import fit_restorer, fitting_dataset
    from tests.test_training_data import write_photo, write_sources

    write_photo(tmp_path / "photo.png", 200, 220)
    sources = write_sources(tmp_path, [{"path": "photo.png", "licence": "CC0-1.0", "origin": "synthetic"}])
    dataset = fitting_dataset(sources)
    mixture = DegradeConfig(clean_prob=0.5, video_prob=0.0)
    restorer = fit_restorer(dataset, mixture, (2.0, 4.0), 4, log=lambda line: None)
    assert sorted(restorer.banks) == sorted(FOOTAGE)
    assert all(torch.isfinite(b).all() and b.abs().sum() > 0 for b in restorer.banks.values())
    assert not torch.equal(restorer.banks["clean"], restorer.banks["degraded"])
    save_restorer(tmp_path / FOLDER, restorer)
    assert torch.equal(load_restorer(tmp_path / FOLDER).banks["auto"], restorer.banks["auto"])
