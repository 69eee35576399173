"""The one rule for a UNet fitting its base model: the shapes the sampler wires together.

load_model checks a model folder's UNet config with it, `dcvsr train` a UNet it builds or fine-tunes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# diffusers' UNetSpatioTemporalConditionModel defaults, for a config that leaves a field out.
_DEFAULTS = {"in_channels": 8, "out_channels": 4, "cross_attention_dim": 1024, "addition_time_embed_dim": 256,
             "projection_class_embeddings_input_dim": 768}


def unet_misfits(config: Mapping[str, Any], latent: int, source: str, projection_dim: int) -> list[str]:
    """What does not fit, in words (empty if it fits). latent: the base's latent channels, named by
    `source`; projection_dim: the image encoder's."""

    def get(name: str) -> Any:
        return config.get(name, _DEFAULTS[name])

    rules = [
        # The UNet sees the noisy latent concatenated with the conditioning latent.
        (get("in_channels") == 2 * latent, f"in_channels must be 2 x {source}: {2 * latent}"),
        (get("out_channels") == latent, f"out_channels must be {source}: {latent}"),
        (get("cross_attention_dim") == projection_dim,
         f"cross_attention_dim must be the image encoder's projection_dim ({projection_dim})"),
        # Three added time ids: fps, motion bucket, noise augmentation strength.
        (get("projection_class_embeddings_input_dim") == 3 * get("addition_time_embed_dim"),
         "projection_class_embeddings_input_dim must be 3 x addition_time_embed_dim"),
    ]
    return [rule for ok, rule in rules if not ok]
