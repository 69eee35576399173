"""The one model folder layout: the published weights and every model this project makes.

    model_index.json
    dcvsr.json          this project's per-model file (see info.py)
    vae/                AutoencoderKLTemporalDecoder: config.json + diffusion_pytorch_model.safetensors
    image_encoder/      CLIPVisionModelWithProjection: config.json + model.safetensors
    feature_extractor/  preprocessor_config.json (CLIPImageProcessor)
    scheduler/          scheduler_config.json (EulerDiscreteScheduler)
    unet_ema/           UNetSpatioTemporalConditionModel: config.json + diffusion_pytorch_model.safetensors

A weights file may also be sharded (`*.safetensors.index.json`) or present only as the
Hub's fp16 variant (`*.fp16.safetensors`). Pickle checkpoints are never read.

`--model` is such a folder, or the name of one under $DCVSR_MODEL_DIR ("dc-vsr": the published model).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcvsr_protocol.errors import ModelError

from ..io.atomic import commit
from ..jsonfile import read_object

MODEL_INDEX = "model_index.json"
DCVSR_JSON = "dcvsr.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


@dataclass(frozen=True)
class Component:
    folder: str
    library: str
    class_name: str
    config: str
    weights: str | None  # file stem of the weights; None for config-only components


VAE = Component("vae", "diffusers", "AutoencoderKLTemporalDecoder", "config.json", "diffusion_pytorch_model")
IMAGE_ENCODER = Component("image_encoder", "transformers", "CLIPVisionModelWithProjection", "config.json",
                          "model")
FEATURE_EXTRACTOR = Component("feature_extractor", "transformers", "CLIPImageProcessor",
                              "preprocessor_config.json", None)
SCHEDULER = Component("scheduler", "diffusers", "EulerDiscreteScheduler", "scheduler_config.json", None)
UNET = Component("unet_ema", "diffusers", "UNetSpatioTemporalConditionModel", "config.json",
                 "diffusion_pytorch_model")
COMPONENTS = (VAE, IMAGE_ENCODER, FEATURE_EXTRACTOR, SCHEDULER, UNET)


def model_index() -> dict[str, Any]:
    """model_index.json for this layout (diffusers' format, with the UNet under unet_ema)."""
    index: dict[str, Any] = {"_class_name": "StableVideoDiffusionPipeline"}
    for c in COMPONENTS:
        index[c.folder] = [c.library, c.class_name]
    return index


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or a ModelError naming the file."""
    if not path.is_file():
        raise ModelError(f"missing model file: {path}")
    return read_object(path, ModelError, "corrupt model file")


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def build_folder(dest: Path, build: Callable[[Path], None], tag: str = "partial",
                 may_replace: Callable[[Path], None] | None = None) -> Path:
    """Build a folder beside `dest` with build(work) and swap it into place, so `dest` is never half-made
    and a failed build leaves nothing: the one way model folders (pulled, made, shipped, checkpoints)
    are written. An existing `dest` is replaced: the caller checks that it may be, beforehand or, just
    before the swap, with may_replace(dest) (which raises to refuse)."""
    work = work_dir(dest, tag)
    try:
        build(work)
        if may_replace is not None and dest.exists():
            may_replace(dest)
        commit(work, dest, overwrite=True)  # io.atomic's swap: the old folder aside, the new one in
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return dest


def work_dir(dest: Path, tag: str) -> Path:
    """A fresh hidden folder beside `dest` to build it in (mkdir, so the umask applies, unlike mkdtemp)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    path = dest.parent / f".{dest.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir()
    return path


def weight_candidates(stem: str) -> tuple[str, ...]:
    """Accepted weights entry points for `stem`, most preferred first."""
    return (f"{stem}.safetensors", f"{stem}.safetensors.index.json",
            f"{stem}.fp16.safetensors", f"{stem}.safetensors.index.fp16.json",
            f"{stem}.fp16.safetensors.index.json")


def shard_pattern(stem: str, fp16: bool) -> re.Pattern[str]:
    """Names of the shards of `stem`'s plain or fp16 index, as the Hub's libraries write them."""
    variant = r"\.fp16" if fp16 else ""
    return re.compile(rf"{re.escape(stem)}{variant}-\d+-of-\d+\.safetensors")


def find_weights(folder: Path, stem: str) -> list[Path]:
    """The safetensors files holding a component's weights (one, or the shards of an index).

    Refuses a folder that holds only pickle checkpoints, naming the file.
    """
    entry = weights_entry(folder, stem)
    if entry is not None:
        return shards(entry) if entry.name.endswith(".json") else [entry]
    pickles = sorted(p for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise ModelError(f"refusing pickle checkpoint {pickles[0]}: pickle checkpoints are refused because "
                         "loading them can run arbitrary code; convert it to safetensors "
                         f"({stem}.safetensors) first")
    raise ModelError(f"missing model file: {folder / (stem + '.safetensors')} "
                     f"(no {stem}.safetensors, sharded index or fp16 variant in {folder})")


def weights_entry(folder: Path, stem: str) -> Path | None:
    """The preferred weights file or shard index of `stem` in `folder`, if any."""
    if not folder.is_dir():
        raise ModelError(f"missing model folder: {folder}")
    for name in weight_candidates(stem):
        if (folder / name).is_file():
            return folder / name
    return None


def shards(index_path: Path) -> list[Path]:
    """The shard files named by a `*.safetensors.index.json`, checked to exist beside it."""
    index = read_json(index_path)
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ModelError(f"corrupt model file {index_path}: no weight_map")
    found: list[Path] = []
    for name in dict.fromkeys(weight_map.values()):
        # Shard names are plain file names next to the index; anything else could escape the folder.
        if not isinstance(name, str) or Path(name).name != name or not name.endswith(".safetensors"):
            raise ModelError(f"corrupt model file {index_path}: bad shard name {name!r}")
        shard = index_path.parent / name
        if not shard.is_file():
            raise ModelError(f"missing model file: {shard} (listed in {index_path})")
        found.append(shard)
    return found


# -- where models live and how `--model` names them ------------------------------------------------
PUBLISHED = "dc-vsr"
NANO = "nano"
KNOWN_MODELS = {PUBLISHED: "the published DC-VSR model (Stable Video Diffusion img2vid + DC-VSR UNet EMA)",
                NANO: "the small CPU model trained by this project, shipped with the engine (docs/nano.md)"}
SHIPPED_DIR = Path(__file__).parent / "shipped"  # models inside the package: nano


def models_dir() -> Path:
    """$DCVSR_MODEL_DIR, else the per-user data folder (read at call time so it can be changed)."""
    env = os.environ.get("DCVSR_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs  # only needed here

    return Path(platformdirs.user_data_dir("dcvsr")) / "models"


def is_installed(folder: Path) -> bool:
    # dcvsr.json is written last by `pull`, so its presence marks a complete folder.
    return (folder / DCVSR_JSON).is_file()


def _how_to_get() -> str:
    return (f"Get the published model with `dcvsr models pull {PUBLISHED}`, or make a tiny random model "
            "that only demonstrates the pipeline with `dcvsr models make-tiny DIR` and pass `--model DIR`. "
            "Set DCVSR_MODEL_DIR to keep models elsewhere.")


def shipped_model(name: str) -> Path | None:
    folder = SHIPPED_DIR / name
    return folder if is_installed(folder) else None


def default_model() -> Path:
    """The installed dc-vsr folder; without it nano (installed, else shipped); else a ModelError."""
    folder = models_dir() / PUBLISHED
    if is_installed(folder):
        return folder
    nano = models_dir() / NANO
    if is_installed(nano):
        return nano
    shipped = shipped_model(NANO)
    if shipped is not None:
        return shipped
    raise ModelError(f"No DC-VSR model is installed: looked for {folder / DCVSR_JSON}, and this "
                     f"installation has no shipped {NANO} model. " + _how_to_get())


def _looks_like_path(text: str) -> bool:
    return "/" in text or os.sep in text or text.startswith((".", "~"))


def resolve_model_path(model: str | Path | None) -> Path:
    """`--model`: a folder in the dcvsr layout, or the name of a model under models_dir()."""
    if model is None or (isinstance(model, str) and not model.strip()):
        return default_model()
    if isinstance(model, Path) or _looks_like_path(model):
        path = Path(model).expanduser()
        if path.is_dir():
            return path
        if path.exists():
            raise ModelError(f"--model {path} is a file; it must be a model folder (with {DCVSR_JSON})")
        raise ModelError(f"no model folder at {path}")
    installed = models_dir() / model
    if installed.is_dir():
        return installed
    shipped = shipped_model(model)
    if shipped is not None:
        return shipped
    if Path(model).is_dir():  # a bare folder name in the working directory
        return Path(model)
    if model in KNOWN_MODELS:
        raise ModelError(f"model {model!r} is not installed: looked for {installed}. " + _how_to_get())
    raise ModelError(f"unknown model {model!r}: no folder {installed} and no folder ./{model}. "
                     f"Known names: {', '.join(KNOWN_MODELS)}. " + _how_to_get())
