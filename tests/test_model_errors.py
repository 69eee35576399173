"""Bad model folders: every problem is a ModelError that names the file; pickles are never read."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from dcvsr_protocol.errors import ModelError
from safetensors.torch import load_file, save_file

from dcvsr_engine.model import load_model

UNET_FILE = "unet_ema/diffusion_pytorch_model.safetensors"


@pytest.fixture
def model_dir(tmp_path, tiny_model_dir):
    return shutil.copytree(tiny_model_dir, tmp_path / "model")


@pytest.fixture(autouse=True)
def _no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the loader must never unpickle")

    monkeypatch.setattr(torch, "load", refuse)


def _load_error(path) -> str:
    with pytest.raises(ModelError) as err:
        load_model(path, device="cpu")
    return str(err.value)


def test_pickle_checkpoint_is_refused(model_dir):
    weights = model_dir / UNET_FILE
    state = load_file(str(weights))
    weights.unlink()
    pickled = model_dir / "unet_ema" / "diffusion_pytorch_model.bin"
    torch.save(state, pickled)
    message = _load_error(model_dir)
    assert str(pickled) in message and "pickle" in message


@pytest.mark.parametrize("relative", [
    "vae/config.json", "image_encoder/model.safetensors", "scheduler",
    "feature_extractor/preprocessor_config.json", "dcvsr.json", "model_index.json",
])
def test_missing_file_names_the_exact_path(model_dir, relative):
    target = model_dir / relative
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    message = _load_error(model_dir)
    assert str(target) in message and "missing" in message


def test_missing_model_folder(tmp_path):
    assert str(tmp_path / "nowhere") in _load_error(tmp_path / "nowhere")


@pytest.mark.parametrize("damage", ["truncate", "header-length", "header-json", "empty"])
def test_corrupt_safetensors_names_the_file(model_dir, damage):
    target = model_dir / UNET_FILE
    data = target.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "header-length":
        data = (2**40).to_bytes(8, "little") + data[8:]
    elif damage == "header-json":
        data = data[:8] + b"#" * 16 + data[24:]
    else:
        data = b""
    target.write_bytes(data)
    message = _load_error(model_dir)
    assert str(target) in message and "corrupt" in message


def test_bad_json_names_the_file(model_dir):
    target = model_dir / "unet_ema" / "config.json"
    target.write_text('{"in_channels": 8,')
    message = _load_error(model_dir)
    assert str(target) in message and "JSON" in message


@pytest.mark.parametrize(("defaults", "expected"), [
    ({"stepz": 3}, "stepz"),  # unknown setting
    ({"seed": 3}, "seed"),  # a real setting, but not a per-model one
    ({"steps": 0}, "steps"),  # out of range
])
def test_bad_dcvsr_json_is_an_error_naming_it(model_dir, defaults, expected):
    path = model_dir / "dcvsr.json"
    info = json.loads(path.read_text())
    info["defaults"] = defaults
    path.write_text(json.dumps(info))
    message = _load_error(model_dir)
    assert "dcvsr.json" in message and expected in message


def test_unsupported_dcvsr_json_format(model_dir):
    path = model_dir / "dcvsr.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": 2}))
    assert "dcvsr.json" in _load_error(model_dir)


def test_missing_and_unexpected_keys_are_refused(model_dir):
    target = model_dir / "vae" / "diffusion_pytorch_model.safetensors"
    state = load_file(str(target))
    dropped = sorted(state)[0]
    del state[dropped]
    state["extra.weight"] = torch.zeros(2)
    save_file(state, str(target))
    message = _load_error(model_dir)
    assert str(target) in message and dropped in message and "extra.weight" in message


def test_weights_of_another_shape_are_refused(model_dir):
    path = model_dir / "unet_ema" / "config.json"
    config = json.loads(path.read_text())
    config["block_out_channels"] = [32, 32, 64, 96]
    path.write_text(json.dumps(config))
    message = _load_error(model_dir)
    assert str(model_dir / UNET_FILE) in message


@pytest.mark.parametrize(("key", "value", "rule"), [
    ("in_channels", 6, "in_channels"), ("cross_attention_dim", 64, "projection_dim"),
    ("addition_time_embed_dim", 16, "3 x addition_time_embed_dim"),
])
def test_components_that_do_not_fit_together_are_refused(model_dir, key, value, rule):
    path = model_dir / "unet_ema" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), key: value}))
    message = _load_error(model_dir)
    assert str(path) in message and rule in message


def test_wrong_component_class_is_refused(model_dir):
    path = model_dir / "vae" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "_class_name": "AutoencoderKL"}))
    message = _load_error(model_dir)
    assert str(path) in message and "AutoencoderKLTemporalDecoder" in message


@pytest.mark.parametrize(("device", "dtype"), [("tpu", "auto"), ("cpu", "fp8"), ("cuda:7", "auto")])
def test_bad_device_or_dtype(model_dir, device, dtype):
    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    with pytest.raises(ModelError):
        load_model(model_dir, device=device, dtype=dtype)
