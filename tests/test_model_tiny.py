"""The tiny model: written in the real layout, loaded by the real loader, and runnable."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import torch

from dcvsr_engine.model import make_tiny
from dcvsr_engine.model.svd import CLIP_MEAN, CLIP_STD, svd_scheduler_config
from dcvsr_engine.model.tiny import TINY_DEFAULTS, svd_unet_config

PROPAGATION_LAYERS = [
    "down_blocks.0.attentions.0.transformer_blocks.0.attn1",
    "down_blocks.0.attentions.1.transformer_blocks.0.attn1",
    "up_blocks.3.attentions.1.transformer_blocks.0.attn1",
    "up_blocks.3.attentions.2.transformer_blocks.0.attn1",
]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_tiny_folder_has_the_layout(tiny_model_dir):
    assert sorted(_files(tiny_model_dir)) == [
        "dcvsr.json", "feature_extractor/preprocessor_config.json", "image_encoder/config.json",
        "image_encoder/model.safetensors", "model_index.json", "scheduler/scheduler_config.json",
        "unet_ema/config.json", "unet_ema/diffusion_pytorch_model.safetensors", "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors"]
    info = json.loads((tiny_model_dir / "dcvsr.json").read_text())
    assert info["format"] == 1 and info["name"] == "tiny"
    assert info["latent"] == {"kind": "vae"} and info["conditioning"] == {"image_embeds": "clip-mean"}
    assert "pipeline" in info["description"]
    assert info["defaults"] == TINY_DEFAULTS
    sched = json.loads((tiny_model_dir / "scheduler" / "scheduler_config.json").read_text())
    assert sched == svd_scheduler_config()
    assert sched["prediction_type"] == "v_prediction" and sched["sigma_max"] == 700.0
    index = json.loads((tiny_model_dir / "model_index.json").read_text())
    assert index["unet_ema"] == ["diffusers", "UNetSpatioTemporalConditionModel"]
    assert sum(len(b) for b in _files(tiny_model_dir).values()) < 12 * 2**20


def test_tiny_model_loads_and_runs(tiny_model):
    m = tiny_model
    assert m.device == torch.device("cpu") and m.dtype == torch.float32
    assert m.image_size == 32 and m.image_mean == CLIP_MEAN and m.image_std == CLIP_STD
    assert m.defaults() == TINY_DEFAULTS and m.info["name"] == "tiny"
    assert len(m.fingerprint) == 64
    names = dict(m.unet.named_modules())
    for layer in PROPAGATION_LAYERS:
        assert layer in names
    for net in (m.unet, m.vae, m.image_encoder):
        assert not net.training
        assert all(not p.requires_grad and p.dtype == torch.float32 for p in net.parameters())
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        out = m.unet(torch.randn(1, 6, 8, 16, 16, generator=gen), torch.tensor([0.5]),
                     encoder_hidden_states=torch.randn(1, 1, 32, generator=gen),
                     added_time_ids=torch.tensor([[6.0, 127.0, 0.0]])).sample
        assert out.shape == (1, 6, 4, 16, 16) and torch.isfinite(out).all()
        image = torch.rand(1, 3, 64, 64, generator=gen) * 2 - 1
        latent = m.vae.encode(image).latent_dist.mode()
        assert latent.shape == (1, 4, 8, 8)
        decoded = m.vae.decode(latent, num_frames=1).sample
        assert decoded.shape == (1, 3, 64, 64) and torch.isfinite(decoded).all()
        embeds = m.image_encoder(torch.randn(1, 3, 32, 32, generator=gen)).image_embeds
        assert embeds.shape == (1, 32)
    m.scheduler.set_timesteps(3)
    assert len(m.scheduler.timesteps) == 3


def test_make_tiny_is_deterministic_for_a_seed(tmp_path, tiny_model_dir):
    same = _files(make_tiny(tmp_path / "again", seed=0))
    assert same == _files(tiny_model_dir)
    other = _files(make_tiny(tmp_path / "other", seed=1))
    assert other["unet_ema/config.json"] == same["unet_ema/config.json"]
    unet = "unet_ema/diffusion_pytorch_model.safetensors"
    assert other[unet] != same[unet]
    # Replacing an earlier tiny model in place is allowed.
    assert _files(make_tiny(tmp_path / "other", seed=0)) == same


def test_svd_unet_config_has_svd_shape():
    cfg = svd_unet_config()
    assert cfg["block_out_channels"] == [320, 640, 1280, 1280]
    assert cfg["num_attention_heads"] == [5, 10, 20, 20]
    assert cfg["cross_attention_dim"] == 1024 and cfg["num_frames"] == 14
    assert cfg["projection_class_embeddings_input_dim"] == 3 * cfg["addition_time_embed_dim"]
    assert svd_unet_config() is not cfg  # a fresh dict each time: callers may edit it


def test_heavy_libraries_are_imported_only_when_used():
    # diffusers and transformers take seconds to import: no module of the package imports them at load time.
    package = Path(__file__).resolve().parents[1] / "dcvsr_engine" / "model"
    for path in package.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not roots & {"diffusers", "transformers", "huggingface_hub"}, path.name
