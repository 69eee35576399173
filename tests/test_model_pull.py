"""`pull`: laying the Hub's files out in the dcvsr layout, and failing fast and plainly offline."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import huggingface_hub
import pytest
import torch
from dcvsr_protocol.errors import ModelError
from safetensors.torch import load_file, save_file

from dcvsr_engine.model import default_model, load_model, pull
from dcvsr_engine.model.layout import UNET, VAE
from dcvsr_engine.model.pull import DCVSR_REPO, PUBLISHED_DEFAULTS, _choose
from dcvsr_engine.model.svd import SVD_REPO

UNREACHABLE = "http://127.0.0.1:9"  # loopback discard port: connection refused at once


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """No network (an endpoint that refuses), an empty HF cache and a private model dir."""
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("DCVSR_MODEL_DIR", str(tmp_path / "models"))
    return tmp_path


def shard_in_two(folder: Path, stem: str) -> None:
    """Replace `stem.safetensors` by two shards and an index, as the Hub's libraries write them."""
    state = load_file(str(folder / f"{stem}.safetensors"))
    keys = sorted(state)
    weight_map = {}
    for i, part in enumerate((keys[: len(keys) // 2], keys[len(keys) // 2:]), 1):
        name = f"{stem}-{i:05d}-of-00002.safetensors"
        save_file({k: state[k] for k in part}, str(folder / name))
        weight_map.update(dict.fromkeys(part, name))
    (folder / f"{stem}.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (folder / f"{stem}.safetensors").unlink()


def cache_like(files: dict[str, Path], root: Path) -> Path:
    """A snapshot folder as the HF cache holds it: symlinks into a blobs/ folder."""
    blobs = root / "blobs"
    snapshot = root / "snapshots" / "0123abcd"
    blobs.mkdir(parents=True, exist_ok=True)
    for i, (relative, source) in enumerate(sorted(files.items())):
        blob = blobs / f"blob{i}"
        shutil.copyfile(source, blob)
        link = snapshot / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)
    return snapshot


@pytest.fixture
def fake_hub(hub_env, tiny_model_dir, monkeypatch):
    """Cached snapshots of both repos, built from the tiny model, served by a mocked snapshot_download."""
    t = tiny_model_dir
    work = hub_env / "parts"
    shutil.copytree(t / "unet_ema", work / "unet_ema")
    shard_in_two(work / "unet_ema", "diffusion_pytorch_model")  # the UNet as shards
    base = cache_like({
        "model_index.json": t / "model_index.json",
        "vae/config.json": t / "vae/config.json",
        # Only the fp16 variant of the VAE, as some Hub repos have.
        "vae/diffusion_pytorch_model.fp16.safetensors": t / "vae/diffusion_pytorch_model.safetensors",
        "image_encoder/config.json": t / "image_encoder/config.json",
        "image_encoder/model.safetensors": t / "image_encoder/model.safetensors",
        "image_encoder/pytorch_model.bin": t / "dcvsr.json",  # a decoy that must not be copied
        "feature_extractor/preprocessor_config.json": t / "feature_extractor/preprocessor_config.json",
        "scheduler/scheduler_config.json": t / "scheduler/scheduler_config.json",
        "unet/config.json": t / "unet_ema/config.json",  # SVD's own UNet: not part of dc-vsr
        "svd.safetensors": t / "vae/diffusion_pytorch_model.safetensors",
    }, hub_env / "cache-base")
    unet_files = {f"unet_ema/{p.name}": p for p in (work / "unet_ema").iterdir()}
    dcvsr = cache_like(unet_files, hub_env / "cache-dcvsr")
    calls = []

    def snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        if not kwargs.get("local_files_only"):
            raise AssertionError("everything is cached: the network must not be used")
        return str({SVD_REPO: base, DCVSR_REPO: dcvsr}[repo_id])

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return {"base": base, "dcvsr": dcvsr, "calls": calls}


def test_pull_lays_out_cached_files(fake_hub, hub_env, tiny_model):
    dest = pull()
    assert dest == hub_env / "models" / "dc-vsr" and default_model() == dest
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == [
        "dcvsr.json", "feature_extractor/preprocessor_config.json", "image_encoder/config.json",
        "image_encoder/model.safetensors", "model_index.json", "scheduler/scheduler_config.json",
        "unet_ema/config.json", "unet_ema/diffusion_pytorch_model-00001-of-00002.safetensors",
        "unet_ema/diffusion_pytorch_model-00002-of-00002.safetensors",
        "unet_ema/diffusion_pytorch_model.safetensors.index.json", "vae/config.json",
        "vae/diffusion_pytorch_model.fp16.safetensors"]
    assert not any(p.is_symlink() for p in dest.rglob("*"))  # hard links or copies, never into the cache
    assert [c[0] for c in fake_hub["calls"]] == [SVD_REPO, DCVSR_REPO]
    info = json.loads((dest / "dcvsr.json").read_text())
    assert info["name"] == "dc-vsr" and info["defaults"] == PUBLISHED_DEFAULTS
    assert info["defaults"]["steps"] == 25 and info["defaults"]["tile_size"] == 64
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".")]  # no work folders left

    model = load_model("dc-vsr", device="cpu")
    ours, theirs = model.unet.state_dict(), tiny_model.unet.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)

    # Pulling again replaces the folder; deleting the cache leaves the model whole.
    assert pull() == dest
    shutil.rmtree(hub_env / "cache-base")
    state = load_file(str(dest / "vae" / "diffusion_pytorch_model.fp16.safetensors"))
    assert state.keys() == tiny_model.vae.state_dict().keys()


def test_pull_refuses_to_replace_a_folder_that_is_not_a_model(fake_hub, tmp_path):
    dest = tmp_path / "precious"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep me")
    with pytest.raises(ModelError, match="not a dcvsr model folder"):
        pull(dest=dest)
    assert (dest / "notes.txt").read_text() == "keep me"


def test_offline_pull_fails_fast_and_says_what_is_missing(hub_env):
    start = time.monotonic()
    with pytest.raises(ModelError) as err:
        pull()
    assert time.monotonic() - start < 15
    message = str(err.value)
    assert SVD_REPO in message and UNREACHABLE in message
    assert str(hub_env / "hf-cache") in message and "dcvsr models pull dc-vsr" in message
    assert not (hub_env / "models" / "dc-vsr").exists()


def test_hf_hub_offline_is_respected(hub_env, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("HF_HUB_OFFLINE is set: no request may be made")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no_network)
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE"):
        pull()


def test_incomplete_cache_goes_to_the_network_and_names_the_gap(fake_hub, hub_env):
    for f in (fake_hub["dcvsr"] / "unet_ema").glob("*.safetensors"):
        f.unlink()
    with pytest.raises(ModelError) as err:
        pull()
    message = str(err.value)
    assert DCVSR_REPO in message and "unet_ema" in message and UNREACHABLE in message
    models = hub_env / "models"
    assert not models.exists() or not list(models.iterdir())  # nothing half-made left behind


def test_choose_prefers_plain_safetensors_and_takes_whole_shard_sets():
    names = ["vae/config.json", "vae/diffusion_pytorch_model.safetensors",
             "vae/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.bin"]
    assert _choose("r", names, (VAE,)) == ["vae/config.json", "vae/diffusion_pytorch_model.safetensors"]
    names = ["unet_ema/config.json", "unet_ema/diffusion_pytorch_model.safetensors.index.fp16.json",
             "unet_ema/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
             "unet_ema/diffusion_pytorch_model.fp16-00002-of-00002.safetensors",
             "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors"]
    assert _choose("r", names, (UNET,)) == names[:4]


def test_choose_refuses_a_pickle_only_repo():
    names = ["unet_ema/config.json", "unet_ema/diffusion_pytorch_model.bin"]
    with pytest.raises(ModelError, match="pickle") as err:
        _choose(DCVSR_REPO, names, (UNET,))
    assert "unet_ema/diffusion_pytorch_model.bin" in str(err.value)
    with pytest.raises(ModelError, match=r"no unet_ema/config\.json"):
        _choose(DCVSR_REPO, names[1:], (UNET,))



def test_online_download_asks_only_for_the_chosen_files_and_explains_gated_repos(hub_env, monkeypatch):
    import httpx2
    from huggingface_hub.errors import GatedRepoError

    names = ["model_index.json", "svd.safetensors", "unet/config.json",
             "unet/diffusion_pytorch_model.fp16.safetensors", "vae/config.json",
             "vae/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors",
             "image_encoder/config.json", "image_encoder/model.fp16.safetensors",
             "feature_extractor/preprocessor_config.json", "scheduler/scheduler_config.json"]
    siblings = [type("Sibling", (), {"rfilename": n})() for n in names]
    info = type("Info", (), {"sha": "f" * 40, "siblings": siblings})()
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda self, repo, **kw: info)
    asked = []

    def snapshot_download(repo_id, **kwargs):
        if kwargs.get("local_files_only"):
            raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")
        asked.append(kwargs)
        response = httpx2.Response(401, request=httpx2.Request("GET", UNREACHABLE))
        raise GatedRepoError("Access to this repo is restricted", response=response)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(ModelError) as err:
        pull()
    assert "accept its license" in str(err.value) and "HF_TOKEN" in str(err.value)
    assert asked[0]["revision"] == "f" * 40
    assert sorted(asked[0]["allow_patterns"]) == sorted([
        "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "image_encoder/config.json",
        "image_encoder/model.fp16.safetensors", "feature_extractor/preprocessor_config.json",
        "scheduler/scheduler_config.json"])
