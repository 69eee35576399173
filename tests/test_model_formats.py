"""The Hub's other weight layouts: fp16-only variants and sharded safetensors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from dcvsr_protocol.errors import ModelError
from safetensors.torch import load_file, save_file

from dcvsr_engine.model import load_model
from dcvsr_engine.model.layout import find_weights


def shard(folder, stem, variant=""):
    """Split `stem.safetensors` into two shards with an index, as diffusers/transformers write them."""
    source = folder / f"{stem}.safetensors"
    state = load_file(str(source))
    keys = sorted(state)
    halves = keys[: len(keys) // 2], keys[len(keys) // 2:]
    weight_map = {}
    for i, part in enumerate(halves, 1):
        name = f"{stem}{variant}-{i:05d}-of-00002.safetensors"
        save_file({k: state[k] for k in part}, str(folder / name))
        weight_map.update(dict.fromkeys(part, name))
    index = f"{stem}.safetensors.index.json" if not variant else f"{stem}.safetensors.index{variant}.json"
    (folder / index).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    source.unlink()


def test_fp16_variant_and_sharded_weights_load_the_same_model(tmp_path, tiny_model_dir, tiny_model):
    root = shutil.copytree(tiny_model_dir, tmp_path / "model")
    vae = root / "vae" / "diffusion_pytorch_model.safetensors"
    vae.rename(vae.with_name("diffusion_pytorch_model.fp16.safetensors"))
    shard(root / "unet_ema", "diffusion_pytorch_model")
    shard(root / "image_encoder", "model", variant=".fp16")
    # A stray pickle next to safetensors is ignored, never read.
    torch.save({}, root / "unet_ema" / "diffusion_pytorch_model.bin")
    loaded = load_model(root, device="cpu", dtype="fp32")
    for name in ("unet", "vae", "image_encoder"):
        ours, theirs = getattr(loaded, name).state_dict(), getattr(tiny_model, name).state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert loaded.fingerprint != tiny_model.fingerprint  # other files, other identity


def test_missing_shard_is_named(tmp_path, tiny_model_dir):
    root = shutil.copytree(tiny_model_dir, tmp_path / "model")
    shard(root / "unet_ema", "diffusion_pytorch_model")
    gone = root / "unet_ema" / "diffusion_pytorch_model-00002-of-00002.safetensors"
    gone.unlink()
    with pytest.raises(ModelError, match="missing model file") as err:
        load_model(root, device="cpu")
    assert str(gone) in str(err.value)


def test_shard_names_cannot_leave_the_folder(tmp_path):
    folder = tmp_path / "vae"
    folder.mkdir()
    (tmp_path / "outside.safetensors").write_bytes(b"")
    index = folder / "diffusion_pytorch_model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"a": "../outside.safetensors"}}))
    with pytest.raises(ModelError, match="bad shard name"):
        find_weights(folder, "diffusion_pytorch_model")


def test_explicit_dtypes(tiny_model_dir):
    model = load_model(tiny_model_dir, device="cpu", dtype="bf16")
    assert model.dtype == torch.bfloat16
    for net in (model.unet, model.image_encoder):
        assert {p.dtype for p in net.parameters()} == {torch.bfloat16}
    # The VAE's config says force_upcast (SVD's VAE overflows in half precision): it stays fp32.
    assert {p.dtype for p in model.vae.parameters()} == {torch.float32}
    assert model.image_encoder.vision_model.embeddings.position_ids.dtype == torch.int64
