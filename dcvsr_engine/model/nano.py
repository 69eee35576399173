"""nano: the small DC-VSR model trained here, shipped in the package, run on a CPU.

Same classes, loader and SAP/TAP/DSSAG code as the published model; what differs is measured in
bench/bench_nano.py and explained in docs/nano.md:
- condition: the bicubic upscale refined by a restorer (model/restorer.py: hashed linear filters
  fitted in closed form, one bank per kind of footage), which alone beats bicubic; nano denoises
  only what it misses (the shipped folder has restorer/; `make_nano_base` writes none: fit one
  with scripts/fit_restorer.py);
- latent space: a fixed space-to-depth by 8 (192 channels) of the HR frame minus the (restored) upscale
  (a residual, scaled x12 to about unit variance) instead of SVD's VAE: no encoder or decoder to
  run, the same 8x spatial factor as SVD's latents (tile sizes mean the same thing), and a model of
  this size only has to learn the missing detail, not to carry 192 channels of picture through a
  32-channel first level; its condition is decorrelated (detail_gain, model/latent.py), without
  which the UNet barely learned to read it;
- UNet: 3 levels of 32-64-128 channels, one layer per block, attention only at the lowest level
  (1/32 of the output side), where 1 pass over a 960x540 frame costs about 0.2 s on 2 CPU cores.
  That level has one spatial self-attention in the down path, one in the mid block and two in the
  up path: the four layers SAP and TAP act on (the first two and last two);
- noise: sigma_max 80 (EDM's) instead of SVD's 700: with unit-variance latents sigma 80 is already
  pure noise, and a training run this short cannot cover ln sigma up to 6.5.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .svd import svd_scheduler_config

NANO = "nano"
NANO_LATENT = {"kind": "space_to_depth", "factor": 8, "scale": 12.0, "residual": True, "detail_gain": 8.0}
# --quality full: DC-VSR's sampling (SAP, TAP, guidance with DSSAG) over 4 steps that start from the
# restored upscale at sigma 0.3 (SDEdit) with noise shared between frames where the picture stands
# still: on held-back clips it adds high frequencies at 0.34 dB under the standard quality; a start
# at sigma 1 lost 1.5 dB (docs/nano.md, "Choosing the settings").
NANO_DEFAULTS = {"steps": 4, "start_sigma": 0.3, "static_noise": 1.0, "tile_size": 32, "tile_frames": 8,
                 "tile_overlap": 0.25, "frame_overlap": 0.25, "segment_frames": 32, "tap_frames": 2,
                 "decode_chunk": 8, "fps_id": 6}
# --quality preview: one denoising pass per window at 1 step, no guidance (so no DSSAG), one tile up to
# 1088 px a side (no SAP needed). A second step would run at sigma 0.002, where the UNet's output (and
# TAP's effect on it) is scaled by 0.002: it measured within 0.001 dB and cost 1.8x the time.
NANO_PREVIEW = {"steps": 1, "guidance": 0.0, "tile_size": 136}
# --quality standard, the default: one step from the restored upscale at nano's lowest noise level
# (SDEdit), one tile per frame. On held-back training clips every higher start lost PSNR and SSIM to
# it (docs/nano.md, "Choosing the settings"): this UNet's low-noise steps add more error than detail.
NANO_STANDARD = {"steps": 1, "guidance": 0.0, "tile_size": 136, "start_sigma": 0.002}
NANO_PRESETS = {"preview": NANO_PREVIEW, "standard": NANO_STANDARD}
_D, _CD = "DownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal"
_U, _CU = "UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"


def nano_unet_config() -> dict[str, Any]:
    return {
        "sample_size": 16, "in_channels": 2 * 192, "out_channels": 192,
        "down_block_types": [_D, _D, _CD], "up_block_types": [_CU, _U, _U],
        "block_out_channels": [32, 64, 128], "num_attention_heads": [1, 2, 4],
        "layers_per_block": 1, "transformer_layers_per_block": 1, "cross_attention_dim": 32,
        "addition_time_embed_dim": 8, "projection_class_embeddings_input_dim": 24, "num_frames": 8,
    }


def nano_scheduler_config() -> dict[str, Any]:
    return {**svd_scheduler_config(), "sigma_max": 80.0}


def make_nano_base(dest: Path, seed: int = 0) -> Path:
    """An untrained nano model (random UNet, the frozen tiny image encoder): `dcvsr train`'s base."""
    from .info import make_info
    from .tiny import write_random_model

    info = make_info(NANO, "nano DC-VSR model, untrained (random weights): a base for `dcvsr train`.",
                     NANO_DEFAULTS, latent=NANO_LATENT, presets=NANO_PRESETS)
    return write_random_model(dest, seed, nano_unet_config(), info, nano_scheduler_config())
