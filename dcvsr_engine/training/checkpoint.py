"""Checkpoints: complete model folders (model/layout.py) that `load_model` and `dcvsr upscale` use as is.

    OUT/checkpoints/step-00001000/   model_index.json, dcvsr.json, vae/, image_encoder/,
                                     feature_extractor/, scheduler/, restorer/ (if the base has one),
                                     unet_ema/ (the EMA weights),
                                     data-manifest.json (what it was trained on, with licences),
                                     training/ (state.safetensors + state.json: to resume)
    OUT/latest.json                  {"step": 1000, "checkpoint": "checkpoints/step-00001000"}

A checkpoint is built in a hidden folder beside its final name and renamed into place, and
latest.json is replaced atomically after it, so an interrupted save leaves the previous
checkpoint as the one to resume from. The frozen components are hard links to the base
model's files where the file system allows (copies otherwise): they never change.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from dcvsr_protocol.errors import ModelError

from ..jsonfile import read_object
from ..model.layout import (
    DCVSR_JSON,
    FEATURE_EXTRACTOR,
    IMAGE_ENCODER,
    MODEL_INDEX,
    PICKLE_SUFFIXES,
    SCHEDULER,
    UNET,
    VAE,
    build_folder,
    model_index,
    write_json,
)
from ..model.restorer import FOLDER as RESTORER

LATEST = "latest.json"
CHECKPOINTS = "checkpoints"
STATE_DIR = "training"
DATA_MANIFEST = "data-manifest.json"
SAVE_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def write_checkpoint(out: Path, step: int, base: Path, unet: torch.nn.Module,
                     ema: dict[str, torch.Tensor], info: dict[str, Any], manifest: dict[str, Any],
                     save_dtype: str, write_state: Callable[[Path], None]) -> Path:
    """Write OUT/checkpoints/step-N atomically and point latest.json at it; returns its path."""
    from safetensors.torch import save_file

    dest = out / CHECKPOINTS / checkpoint_name(step)

    def build(work: Path) -> None:
        for comp in (VAE, IMAGE_ENCODER, FEATURE_EXTRACTOR, SCHEDULER):
            if comp is VAE and not (base / comp.folder).is_dir():
                continue  # a base whose latent space needs no VAE (dcvsr.json "latent")
            _link_tree(base / comp.folder, work / comp.folder)
        if (base / RESTORER).is_dir():  # a base whose condition is refined (model/restorer.py)
            _link_tree(base / RESTORER, work / RESTORER)
        (work / UNET.folder).mkdir()
        unet.to_json_file(work / UNET.folder / UNET.config)
        dtype = SAVE_DTYPES[save_dtype]
        state = {}
        for k, v in unet.state_dict().items():
            v = ema.get(k, v).detach()
            state[k] = v.to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
        save_file(state, str(work / UNET.folder / f"{UNET.weights}.safetensors"), metadata={"format": "pt"})
        write_json(work / MODEL_INDEX, model_index())
        write_json(work / DATA_MANIFEST, manifest)
        write_state(work / STATE_DIR)
        write_json(work / DCVSR_JSON, info)  # last, as `pull` does: it marks a complete folder

    # An existing dest is a save of this step that was interrupted after its swap: replaced.
    build_folder(dest, build)
    write_latest(out, step, dest)
    return dest


def _link_tree(src: Path, dst: Path) -> None:
    dst.mkdir()
    for item in sorted(src.iterdir()):
        if item.is_dir() or item.suffix.lower() in PICKLE_SUFFIXES:
            continue  # components are flat; pickles are never carried along
        try:
            os.link(item, dst / item.name)
        except OSError:
            shutil.copy2(item, dst / item.name)


def write_latest(out: Path, step: int, checkpoint: Path) -> None:
    tmp = out / f".{LATEST}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps({"step": step, "checkpoint": str(checkpoint.relative_to(out))}) + "\n",
                   encoding="utf-8")
    os.replace(tmp, out / LATEST)


def latest_checkpoint(out: Path) -> Path | None:
    """The checkpoint latest.json names, or None when there is none."""
    path = out / LATEST
    if not path.is_file():
        return None
    data = read_object(path, ModelError, "checkpoint pointer")
    if not isinstance(data.get("checkpoint"), str):
        raise ModelError(f"checkpoint pointer {path}: names no \"checkpoint\" folder")
    folder = out / data["checkpoint"]
    if not (folder / STATE_DIR).is_dir():
        raise ModelError(f"{path} names {folder}, which holds no training state")
    return folder


def prune(out: Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints (never the one latest.json names)."""
    current = latest_checkpoint(out)
    folders = sorted(p for p in (out / CHECKPOINTS).iterdir() if p.is_dir() and p.name.startswith("step-"))
    for old in folders[:-keep] if keep > 0 else []:
        if current is None or old.resolve() != current.resolve():
            shutil.rmtree(old, ignore_errors=True)
