"""Loading a model folder (see layout.py) into a DCVSRModel.

Every model is built from its config and filled from safetensors files read here, strictly;
pickle checkpoints are refused. diffusers and transformers are imported only when loading
(they take seconds to import).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from dcvsr_protocol.errors import ModelError

from . import layout
from . import restorer as restoration
from .devices import pick_device, pick_dtype
from .fingerprint import fingerprint as compute_fingerprint
from .info import latent_spec, read_info
from .latent import VAE_KIND, LatentSpace, SpaceToDepthLatent, VAELatent
from .layout import (
    COMPONENTS,
    DCVSR_JSON,
    FEATURE_EXTRACTOR,
    IMAGE_ENCODER,
    MODEL_INDEX,
    SCHEDULER,
    UNET,
    VAE,
)
from .quality import quality_defaults
from .restorer import Restorer
from .unet_fit import unet_misfits
from .weights import build_loaded


@dataclass
class DCVSRModel:
    """A loaded model: the networks in eval mode without gradients, and what describes them."""

    path: Path
    unet: Any  # diffusers UNetSpatioTemporalConditionModel
    vae: Any  # diffusers AutoencoderKLTemporalDecoder; None when the latent space needs none
    image_encoder: Any  # transformers CLIPVisionModelWithProjection
    image_mean: tuple[float, float, float]  # CLIP pixel normalisation, on [0, 1] RGB
    image_std: tuple[float, float, float]
    image_size: int  # side of the square CLIP input
    scheduler: Any  # diffusers EulerDiscreteScheduler
    info: dict[str, Any]  # dcvsr.json
    device: torch.device
    dtype: torch.dtype
    fingerprint: str  # see fingerprint.py
    latent: LatentSpace  # dcvsr.json "latent" (see latent.py)
    restorer: Restorer | None = None  # restorer/ when dcvsr.json's latent asks for one (see restorer.py)

    def defaults(self, quality: str | None = None) -> dict[str, Any]:
        """This model's Settings defaults at `quality`: dcvsr.json's "defaults", with the quality's
        preset over them (quality.py). The one way to ask a model for its defaults."""
        return quality_defaults(self.info, quality)


def load_model(model: str | Path | None, device: str = "auto", dtype: str = "auto") -> DCVSRModel:
    """Load `model` (a folder, an installed name, or None for the installed dc-vsr)."""
    root = layout.resolve_model_path(model)
    if not root.is_dir():
        raise ModelError(f"missing model folder: {root}")
    info = read_info(root / DCVSR_JSON)
    spec = latent_spec(info, root / DCVSR_JSON)
    uses_vae = spec["kind"] == VAE_KIND
    # A weightless latent space needs no vae/ folder: it is neither read nor required.
    components = [c for c in COMPONENTS if uses_vae or c is not VAE]
    _check_index(root / MODEL_INDEX)
    configs = {c.folder: layout.read_json(root / c.folder / c.config) for c in components}
    _check_classes(root, configs)
    # Find and check every file before building anything, so a bad folder fails in milliseconds.
    weights = {c.folder: layout.find_weights(root / c.folder, c.weights) for c in components if c.weights}
    config_files = [root / DCVSR_JSON, root / MODEL_INDEX] + [root / c.folder / c.config for c in components]
    weight_files = [f for files in weights.values() for f in files]
    restorer = restoration.load_restorer(root / restoration.FOLDER) if spec["restorer"] else None
    if restorer is not None:
        config_files.append(root / restoration.FOLDER / restoration.CONFIG)
        weight_files.append(root / restoration.FOLDER / restoration.WEIGHTS)
    fp = compute_fingerprint(root, config_files, weight_files)
    vision_config = _vision_config(root, configs[IMAGE_ENCODER.folder])
    _check_shapes(root, configs, vision_config, spec)
    mean, std = _normalisation(root / FEATURE_EXTRACTOR.folder / FEATURE_EXTRACTOR.config,
                               configs[FEATURE_EXTRACTOR.folder])

    dev = pick_device(device)
    dt = pick_dtype(dtype, dev)
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPVisionModelWithProjection

    unet = build_loaded(lambda: UNetSpatioTemporalConditionModel.from_config(configs[UNET.folder]),
                        weights[UNET.folder], dt, dev)
    vae = None
    if uses_vae:
        # SVD's VAE overflows in fp16 (its config says force_upcast): it stays in fp32, as in diffusers.
        vae_dtype = torch.float32 if configs[VAE.folder].get("force_upcast", False) else dt
        vae = build_loaded(lambda: AutoencoderKLTemporalDecoder.from_config(configs[VAE.folder]),
                           weights[VAE.folder], vae_dtype, dev)
        latent: LatentSpace = VAELatent(vae)
    else:
        latent = SpaceToDepthLatent(spec["factor"], spec["scale"], spec["shift"], spec["residual"],
                                    spec["detail_gain"])
    image_encoder = build_loaded(lambda: CLIPVisionModelWithProjection(vision_config),
                                 weights[IMAGE_ENCODER.folder], dt, dev)
    scheduler = EulerDiscreteScheduler.from_config(configs[SCHEDULER.folder])
    return DCVSRModel(path=root, unet=unet, vae=vae, image_encoder=image_encoder, image_mean=mean,
                      image_std=std, image_size=int(vision_config.image_size), scheduler=scheduler, info=info,
                      device=dev, dtype=dt, fingerprint=fp, latent=latent, restorer=restorer)


def _check_index(path: Path) -> None:
    index = layout.read_json(path)
    for c in COMPONENTS:
        entry = index.get(c.folder)
        if isinstance(entry, list) and len(entry) == 2 and entry[1] != c.class_name:
            raise ModelError(f"{path}: {c.folder} is a {entry[1]}, but dcvsr needs a {c.class_name}")


def _check_classes(root: Path, configs: dict[str, dict[str, Any]]) -> None:
    for c in (VAE, UNET, SCHEDULER):
        if c.folder not in configs:
            continue
        name = configs[c.folder].get("_class_name", c.class_name)
        if name != c.class_name:
            raise ModelError(f"{root / c.folder / c.config}: a {name}, but dcvsr needs a {c.class_name}")


def _check_shapes(root: Path, configs: dict[str, dict[str, Any]], vision: Any, spec: dict[str, Any]) -> None:
    """The components must fit together the way the SVD pipeline wires them."""
    unet = configs[UNET.folder]
    if spec["kind"] == VAE_KIND:
        latent, source = configs[VAE.folder].get("latent_channels", 4), "the VAE's latent_channels"
    else:
        latent = 3 * spec["factor"] ** 2
        source = (f"the latent channels of {root / DCVSR_JSON}'s {spec['kind']} latent "
                  f"(3 x factor^2 = 3 x {spec['factor']}^2)")
    misfits = unet_misfits(unet, latent, source, vision.projection_dim)
    if misfits:
        raise ModelError(f"{root / UNET.folder / UNET.config}: {misfits[0]}")


def _vision_config(root: Path, data: dict[str, Any]) -> Any:
    from transformers import CLIPVisionConfig

    path = root / IMAGE_ENCODER.folder / IMAGE_ENCODER.config
    if data.get("model_type", "clip_vision_model") != "clip_vision_model":
        raise ModelError(f"{path}: model_type {data.get('model_type')!r}, but dcvsr needs a "
                         "clip_vision_model (CLIPVisionModelWithProjection)")
    try:
        return CLIPVisionConfig.from_dict(data)
    except (TypeError, ValueError) as e:
        raise ModelError(f"{path}: not a usable CLIP vision config ({e})") from e


def _normalisation(path: Path, data: dict[str, Any]) -> tuple[tuple[float, float, float], ...]:
    out = []
    for key in ("image_mean", "image_std"):
        value = data.get(key)
        if (not isinstance(value, list) or len(value) != 3
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            raise ModelError(f"{path}: {key} must be a list of 3 numbers, got {value!r}")
        if key == "image_std" and min(value) <= 0:
            raise ModelError(f"{path}: image_std must be positive, got {value!r}")
        out.append(tuple(float(v) for v in value))
    return out[0], out[1]
