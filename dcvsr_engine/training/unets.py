"""Which UNet a run trains: the base model's (fine-tuning) or a fresh one from a config.

"tiny" is the tiny model's UNet (pairs with `dcvsr models make-tiny` components), "small"
an SVD-shaped UNet at 1/5 of SVD's widths that pairs with SVD's VAE and 1024-d CLIP encoder,
"nano" the shipped CPU model's (model/nano.py), and a path names a JSON UNet config
(diffusers' config.json of a UNetSpatioTemporalConditionModel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from dcvsr_protocol.errors import ModelError, SettingsError

from ..jsonfile import read_object
from ..model.nano import nano_unet_config
from ..model.svd import DOWN_BLOCKS, UP_BLOCKS
from ..model.tiny import tiny_unet_config
from ..model.unet_fit import unet_misfits

FINETUNE = "finetune"
PRESETS = ("tiny", "small", "nano")


def small_unet_config() -> dict[str, Any]:
    """SVD's UNet layout (4 levels, 2 layers per block, head dim 64 as SVD) at 64-256 channels."""
    return {
        "sample_size": 64, "in_channels": 8, "out_channels": 4,
        "down_block_types": list(DOWN_BLOCKS), "up_block_types": list(UP_BLOCKS),
        "block_out_channels": [64, 128, 256, 256], "num_attention_heads": [1, 2, 4, 4],
        "layers_per_block": 2, "transformer_layers_per_block": 1, "cross_attention_dim": 1024,
        "addition_time_embed_dim": 256, "projection_class_embeddings_input_dim": 768, "num_frames": 14,
    }


def unet_config(spec: str) -> dict[str, Any]:
    """The config of a fresh UNet: a preset name or a JSON file."""
    if spec == "tiny":
        return tiny_unet_config()
    if spec == "small":
        return small_unet_config()
    if spec == "nano":
        return nano_unet_config()
    path = Path(spec).expanduser()
    if not path.is_file():
        raise SettingsError(f"--unet {spec!r}: not {FINETUNE}, a preset ({', '.join(PRESETS)}) or a JSON "
                            "file")
    return read_object(path, SettingsError, "UNet config")


def build_unet(config: dict[str, Any], seed: int) -> torch.nn.Module:
    """A randomly initialised UNet, the same for the same seed, leaving the global RNG untouched."""
    from diffusers import UNetSpatioTemporalConditionModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            return UNetSpatioTemporalConditionModel.from_config(config)
        except (TypeError, ValueError) as e:
            raise SettingsError(f"cannot build a UNet from the config: {e}") from e


def check_fits(unet: torch.nn.Module, latent_space: Any, image_encoder: Any) -> None:
    """The UNet must fit the base's components the way the sampler wires them (as load_model checks).

    `latent_space` is the base's LatentSpace (model.latent).
    """
    source = f"the base's {latent_space.kind} latent channels"
    misfits = unet_misfits(unet.config, latent_space.channels, source, image_encoder.config.projection_dim)
    if misfits:
        raise ModelError(f"the UNet does not fit the base model: {misfits[0]}")
