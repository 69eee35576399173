"""nano: the shipped model (budget, licences, loading), the default-model fallback, and `--quality`
in the command, the engine's sessions and the VapourSynth plugin's argument check."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from dcvsr_protocol.errors import ModelError, SettingsError

from dcvsr_engine.attention.layers import propagation_layers
from dcvsr_engine.model import default_model, layout, load_model, resolve_model_path
from dcvsr_engine.model.nano import NANO_DEFAULTS, NANO_LATENT, NANO_PREVIEW, make_nano_base, nano_unet_config
from dcvsr_engine.model.quality import GENERIC_PREVIEW, model_for, quality_defaults
from dcvsr_engine.server.dcvsr_renderer import DCVSRRenderer
from dcvsr_engine.server.frame_cache import FrameCache
from dcvsr_engine.server.renderer import ClipSpec
from tests.conftest import TORCH_THREADS

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = layout.SHIPPED_DIR / layout.NANO
BUDGET = 30 * 2**20


@pytest.fixture
def store(tmp_path, monkeypatch):
    path = tmp_path / "models"
    path.mkdir()
    monkeypatch.setenv("DCVSR_MODEL_DIR", str(path))
    return path


def test_the_shipped_model_fits_the_budget_and_says_what_it_learned_from():
    size = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert size <= BUDGET, f"{size / 2**20:.1f} MB"
    info = json.loads((SHIPPED / "dcvsr.json").read_text())
    assert info["name"] == "nano" and info["latent"]["kind"] == "space_to_depth"
    assert info["presets"]["preview"] == NANO_PREVIEW
    manifest = json.loads((SHIPPED / "data-manifest.json").read_text())
    assert manifest["sources"] and set(manifest["licences"]) == {s["licence"] for s in manifest["sources"]}
    for source in manifest["sources"]:
        assert source["licence"].strip() and source["origin"].startswith("debian bookworm package ")
        assert not source["path"].startswith("/"), "paths are relative to the training-data folder"


def test_the_shipped_model_loads_with_the_same_loader():
    model = load_model(SHIPPED, device="cpu", dtype="fp32")
    assert model.latent.factor == 8 and model.latent.channels == 192
    assert dict(model.unet.config)["block_out_channels"] == nano_unet_config()["block_out_channels"]
    assert len(set(propagation_layers(model.unet))) == 4  # SAP/TAP's first two and last two layers
    assert model.restorer is not None and sorted(model.restorer.banks) == ["auto", "clean", "degraded"]


def test_the_shipped_restorer_sharpens_a_clean_downscale_beyond_bicubic():
    import torch
    import torch.nn.functional as F

    from dcvsr_engine.training.degrade import CLEAN, degrade

    restorer = load_model(SHIPPED, device="cpu", dtype="fp32").restorer
    # A sharp synthetic picture: slanted edges and rings, downscaled as the clean eval does.
    y, x = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    picture = torch.stack([(torch.sin((x + 0.4 * y) / 3.0) > 0).float(),
                           0.5 + 0.5 * torch.cos(((x - 64) ** 2 + (y - 64) ** 2).sqrt() / 2.5),
                           (x / 128.0)])[None] * 0.8 + 0.1
    lr = degrade(picture, CLEAN, 2.0, np.random.default_rng(0))
    up = F.interpolate(lr, size=(128, 128), mode="bicubic", align_corners=False).clamp(0, 1)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    error = lambda out: ((out - picture)[inner] ** 2).mean().item()  # noqa: E731
    assert error(restorer.apply(up, "clean")) < 0.95 * error(up)  # 0.92 when written


def test_the_nano_base_is_a_model_folder_with_its_presets(tmp_path):
    base = make_nano_base(tmp_path / "base")
    info = json.loads((base / "dcvsr.json").read_text())
    assert info["latent"] == NANO_LATENT and info["defaults"] == NANO_DEFAULTS
    assert json.loads((base / "scheduler/scheduler_config.json").read_text())["sigma_max"] == 80.0


def test_nano_is_the_default_without_dc_vsr_weights_and_dc_vsr_wins_when_installed(store, tiny_model_dir):
    assert default_model() == SHIPPED and resolve_model_path(None) == SHIPPED
    assert resolve_model_path("nano") == SHIPPED
    (store / "dc-vsr").symlink_to(tiny_model_dir, target_is_directory=True)
    assert default_model() == store / "dc-vsr"


def test_without_a_shipped_model_nothing_installed_says_so(store, monkeypatch, tmp_path):
    monkeypatch.setattr(layout, "SHIPPED_DIR", tmp_path / "none")
    with pytest.raises(ModelError, match="No DC-VSR model is installed"):
        default_model()


def test_quality_picks_the_model_and_the_preset():
    assert model_for(None, "full") is None and model_for(None, None) is None
    assert model_for(None, "preview") == "nano" and model_for("mine", "preview") == "mine"
    info = {"defaults": {"steps": 8, "tile_size": 32}, "presets": {"preview": {"steps": 2}}}
    assert quality_defaults(info, "full") == {"steps": 8, "tile_size": 32}
    assert quality_defaults(info, "preview") == {"steps": 2, "tile_size": 32}
    assert quality_defaults({"defaults": {"steps": 25}}, "preview") == GENERIC_PREVIEW
    with pytest.raises(SettingsError, match="quality must be one of full, preview"):
        model_for(None, "draft")


def _open(renderer: DCVSRRenderer, **settings):
    spec = ClipSpec("clip", 24, 16, 4, Fraction(24), "f32", 3, settings=settings)
    return renderer.open(spec)


def test_engine_sessions_take_a_quality(tiny_model_dir, tmp_path):
    renderer = DCVSRRenderer(model=str(tiny_model_dir), device="cpu", dtype="fp32",
                             cache=FrameCache(tmp_path / "cache", 0))
    full = _open(renderer)
    preview = _open(renderer, quality="preview")  # the engine's named default model, its preview preset
    assert (full.settings.steps, full.settings.guidance) == (3, 0.5)  # the tiny model's defaults
    assert (preview.settings.steps, preview.settings.guidance) == (4, 0.0)  # GENERIC_PREVIEW
    assert _open(renderer, quality="preview", steps=3).settings.steps == 3  # explicit settings win
    with pytest.raises(SettingsError, match="quality must be one of"):
        _open(renderer, quality="draft")
    unnamed = DCVSRRenderer(device="cpu", dtype="fp32", cache=FrameCache(tmp_path / "cache2", 0))
    session = _open(unnamed, quality="preview")
    assert session.sampler.model.path == SHIPPED and session.settings.steps == NANO_PREVIEW["steps"]


def test_cli_preview_runs_nano_without_any_model_installed(store, tmp_path):
    frames = tmp_path / "in"
    frames.mkdir()
    rng = np.random.default_rng(0)
    import cv2

    for i in range(3):
        cv2.imwrite(str(frames / f"{i:03d}.png"), (rng.random((12, 20, 3)) * 255).astype(np.uint8))
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "dcvsr_engine.cli", "upscale", str(frames), "-o", str(out),
         "--quality", "preview", "--scale", "2", "--quiet", "--threads", str(TORCH_THREADS)],
        capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert str(SHIPPED) in result.stderr
    written = sorted(out.iterdir())
    assert len(written) == 3 and cv2.imread(str(written[0])).shape == (24, 40, 3)


def test_the_plugin_checks_quality_before_the_engine_sees_it():
    vsdcvsr = pytest.importorskip("vsdcvsr.options")
    assert vsdcvsr.settings_for_engine({"quality": "preview"}) == {"quality": "preview"}
    with pytest.raises(vsdcvsr.OptionError, match="quality must be one of full, preview"):
        vsdcvsr.settings_for_engine({"quality": "fast"})
