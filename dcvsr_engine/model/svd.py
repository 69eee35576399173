"""Stable Video Diffusion (stabilityai/stable-video-diffusion-img2vid) configs, copied from the Hub.

Used to build the real-size UNet with random weights (timing benchmarks) and to give the tiny
model SVD's exact noise schedule.
"""

from __future__ import annotations

from typing import Any

SVD_REPO = "stabilityai/stable-video-diffusion-img2vid"

# OpenAI CLIP's pixel normalisation, as in SVD's feature_extractor/preprocessor_config.json.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

DOWN_BLOCKS = ("CrossAttnDownBlockSpatioTemporal",) * 3 + ("DownBlockSpatioTemporal",)
UP_BLOCKS = ("UpBlockSpatioTemporal",) + ("CrossAttnUpBlockSpatioTemporal",) * 3


def svd_unet_config() -> dict[str, Any]:
    """unet/config.json of stable-video-diffusion-img2vid (diffusers UNetSpatioTemporalConditionModel)."""
    return {
        "_class_name": "UNetSpatioTemporalConditionModel",
        "addition_time_embed_dim": 256,
        "block_out_channels": [320, 640, 1280, 1280],
        "cross_attention_dim": 1024,
        "down_block_types": list(DOWN_BLOCKS),
        "in_channels": 8,
        "layers_per_block": 2,
        "num_attention_heads": [5, 10, 20, 20],
        "num_frames": 14,
        "out_channels": 4,
        "projection_class_embeddings_input_dim": 768,
        "sample_size": 96,
        "transformer_layers_per_block": 1,
        "up_block_types": list(UP_BLOCKS),
    }


def svd_scheduler_config() -> dict[str, Any]:
    """scheduler/scheduler_config.json of stable-video-diffusion-img2vid (EulerDiscreteScheduler)."""
    return {
        "_class_name": "EulerDiscreteScheduler",
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "clip_sample": False,
        "interpolation_type": "linear",
        "num_train_timesteps": 1000,
        "prediction_type": "v_prediction",
        "set_alpha_to_one": False,
        "sigma_max": 700.0,
        "sigma_min": 0.002,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "timestep_spacing": "leading",
        "timestep_type": "continuous",
        "trained_betas": None,
        "use_karras_sigmas": True,
    }


def clip_preprocessor_config(side: int) -> dict[str, Any]:
    """feature_extractor/preprocessor_config.json of a CLIPImageProcessor with a `side`-pixel input."""
    return {
        "crop_size": {"height": side, "width": side},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor",
        "image_mean": list(CLIP_MEAN),
        "image_processor_type": "CLIPImageProcessor",
        "image_std": list(CLIP_STD),
        "resample": 3,
        "rescale_factor": 1 / 255,
        "size": {"shortest_edge": side},
    }
