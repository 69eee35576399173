"""The model fingerprint: the same for the same files anywhere, different when a file changes."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file, save_file

from dcvsr_engine.model import load_model, make_tiny
from dcvsr_engine.model.fingerprint import fingerprint
from dcvsr_engine.model.layout import COMPONENTS, DCVSR_JSON, MODEL_INDEX, find_weights

UNET_FILE = "unet_ema/diffusion_pytorch_model.safetensors"


def files_fingerprint(root):
    configs = [root / DCVSR_JSON, root / MODEL_INDEX] + [root / c.folder / c.config for c in COMPONENTS]
    weights = [f for c in COMPONENTS if c.weights for f in find_weights(root / c.folder, c.weights)]
    return fingerprint(root, configs, weights)


@pytest.fixture
def model_dir(tmp_path, tiny_model_dir):
    return shutil.copytree(tiny_model_dir, tmp_path / "elsewhere" / "copy")


def test_stable_across_loads_and_locations(tiny_model, tiny_model_dir, model_dir):
    again = load_model(model_dir, device="cpu")
    assert again.fingerprint == tiny_model.fingerprint
    assert files_fingerprint(tiny_model_dir) == tiny_model.fingerprint


def test_changes_when_weights_change_with_the_same_header(tmp_path, model_dir, tiny_model):
    # Other values, same tensor names, shapes and file size: only the sampled data can tell.
    other = make_tiny(tmp_path / "seed1", seed=1)
    shutil.copyfile(other / UNET_FILE, model_dir / UNET_FILE)
    assert load_model(model_dir, device="cpu").fingerprint != tiny_model.fingerprint


def test_changes_when_a_weight_file_is_rewritten(model_dir, tiny_model):
    target = model_dir / "vae" / "diffusion_pytorch_model.safetensors"
    state = load_file(str(target))
    save_file(state, str(target), metadata={"format": "pt", "note": "re-saved"})
    assert files_fingerprint(model_dir) != tiny_model.fingerprint


@pytest.mark.parametrize("relative", ["scheduler/scheduler_config.json", "dcvsr.json"])
def test_changes_when_a_config_changes(model_dir, tiny_model, relative):
    path = model_dir / relative
    data = json.loads(path.read_text())
    if relative == "dcvsr.json":
        data["description"] = "changed"
    else:
        data["steps_offset"] = 0
    path.write_text(json.dumps(data))
    assert files_fingerprint(model_dir) != tiny_model.fingerprint
