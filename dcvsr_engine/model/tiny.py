"""A tiny randomly initialised model in the real layout, for tests and pipeline demos.

Same block types, attention layout and noise schedule as SVD, with widths small enough that
the whole folder is a few MB and is written in about a second. Its output is noise-like: it
only shows that the pipeline runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from dcvsr_protocol.errors import ModelError

from .info import make_info
from .layout import (
    DCVSR_JSON,
    FEATURE_EXTRACTOR,
    IMAGE_ENCODER,
    MODEL_INDEX,
    SCHEDULER,
    UNET,
    VAE,
    build_folder,
    model_index,
    write_json,
)
from .svd import DOWN_BLOCKS, UP_BLOCKS, clip_preprocessor_config, svd_scheduler_config, svd_unet_config

__all__ = ["TINY_DEFAULTS", "TINY_LATENTS", "make_tiny", "svd_unet_config", "tiny_unet_config",
           "write_random_model"]

TINY_LATENTS = {"vae": {"kind": "vae"},
                "space_to_depth": {"kind": "space_to_depth", "factor": 4, "scale": 1.0}}
TINY_DEFAULTS = {"steps": 3, "tile_size": 16, "tile_frames": 6, "segment_frames": 12, "decode_chunk": 6}
_CLIP_SIDE = 32
_CROSS_DIM = 32


def tiny_unet_config(latent_channels: int = 4) -> dict[str, Any]:
    """SVD's UNet shape (4 levels, layers_per_block 2) at widths of 32-64 channels."""
    return {
        "sample_size": 16, "in_channels": 2 * latent_channels, "out_channels": latent_channels,
        "down_block_types": list(DOWN_BLOCKS), "up_block_types": list(UP_BLOCKS),
        "block_out_channels": [32, 32, 64, 64], "num_attention_heads": [2, 2, 4, 4],
        "layers_per_block": 2, "transformer_layers_per_block": 1, "cross_attention_dim": _CROSS_DIM,
        # SVD's added time ids are (fps, motion bucket, noise aug): 3 x addition_time_embed_dim.
        "addition_time_embed_dim": 8, "projection_class_embeddings_input_dim": 24, "num_frames": 6,
    }


def _tiny_vae_config() -> dict[str, Any]:
    # 4 levels give SVD's 8x spatial factor; GroupNorm(32) needs channels divisible by 32.
    return {"in_channels": 3, "out_channels": 3, "down_block_types": ["DownEncoderBlock2D"] * 4,
            "block_out_channels": [32, 32, 32, 32], "layers_per_block": 1, "latent_channels": 4,
            "sample_size": 64, "scaling_factor": 0.18215, "force_upcast": True}


def _tiny_clip_config() -> dict[str, Any]:
    return {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
            "image_size": _CLIP_SIDE, "patch_size": 8, "projection_dim": _CROSS_DIM, "hidden_act": "gelu",
            "architectures": ["CLIPVisionModelWithProjection"]}


def make_tiny(dest: Path, seed: int = 0, latent: str = "vae") -> Path:
    """Write a tiny random model to `dest` (created; replaced if it already holds a dcvsr model).

    `latent` is the latent space (model/latent.py): "vae" (a tiny random SVD-style VAE) or
    "space_to_depth" (factor 4, 48 latent channels, no vae/ folder).
    """
    if latent not in TINY_LATENTS:
        raise ModelError(f"unknown tiny model latent {latent!r} (choose from {', '.join(TINY_LATENTS)})")
    spec = TINY_LATENTS[latent]
    channels = 4 if spec["kind"] == "vae" else 3 * spec["factor"] ** 2
    info = make_info("tiny", "Tiny randomly initialised model in the DC-VSR layout: its output is noise-like "
                     "and only demonstrates that the pipeline runs.", TINY_DEFAULTS, latent=spec)
    return write_random_model(dest, seed, tiny_unet_config(channels), info)


def write_random_model(dest: Path, seed: int, unet_config: dict[str, Any], info: dict[str, Any],
                       scheduler: dict[str, Any] | None = None) -> Path:
    """A randomly initialised model in the layout: the given UNet, a tiny CLIP image encoder, and a tiny
    VAE when info's latent space is one. Written beside `dest` and renamed into place."""
    dest = Path(dest).expanduser()
    if dest.exists() and not (dest.is_dir() and (not any(dest.iterdir()) or (dest / DCVSR_JSON).is_file())):
        raise ModelError(f"{dest} exists and is not an empty folder or a dcvsr model folder; "
                         "choose a new folder for the model")
    return build_folder(dest, lambda work: _write(work, seed, unet_config, info,
                                                  scheduler or svd_scheduler_config()))


def _write(root: Path, seed: int, unet_config: dict[str, Any], info: dict[str, Any],
           scheduler: dict[str, Any]) -> None:
    from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    # A private RNG state: deterministic for `seed` and leaves the caller's RNG untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        uses_vae = info["latent"]["kind"] == "vae"
        unet = UNetSpatioTemporalConditionModel.from_config(unet_config)
        vae = AutoencoderKLTemporalDecoder.from_config(_tiny_vae_config()) if uses_vae else None
        clip = CLIPVisionModelWithProjection(CLIPVisionConfig(**_tiny_clip_config()))

    for comp in (UNET, VAE, IMAGE_ENCODER, FEATURE_EXTRACTOR, SCHEDULER):
        if comp is not VAE or vae is not None:
            (root / comp.folder).mkdir()
    unet.to_json_file(root / UNET.folder / UNET.config)
    if vae is not None:
        vae.to_json_file(root / VAE.folder / VAE.config)
    clip.config.to_json_file(root / IMAGE_ENCODER.folder / IMAGE_ENCODER.config)
    _save(unet, root / UNET.folder / f"{UNET.weights}.safetensors")
    if vae is not None:
        _save(vae, root / VAE.folder / f"{VAE.weights}.safetensors")
    _save(clip, root / IMAGE_ENCODER.folder / f"{IMAGE_ENCODER.weights}.safetensors")
    write_json(root / FEATURE_EXTRACTOR.folder / FEATURE_EXTRACTOR.config,
               clip_preprocessor_config(_CLIP_SIDE))
    write_json(root / SCHEDULER.folder / SCHEDULER.config, scheduler)
    write_json(root / MODEL_INDEX, model_index())
    write_json(root / DCVSR_JSON, info)


def _save(module: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save

    # fp16 on disk halves the folder; random weights lose nothing that matters.
    state = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous()
             for k, v in module.state_dict().items()}
    # Written by Python so the file mode follows the umask like every other file of the model.
    path.write_bytes(save(state, metadata={"format": "pt"}))
