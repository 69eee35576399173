"""What rendering a clip's segments costs in memory, estimated before any of it is spent.

The engine compares this with the memory it is allowed (server/limits.py) and refuses a session
that would not fit, instead of being killed halfway through a segment. The figures are the large
buffers the sampler holds at its peak, each sized by one segment (never by the clip), with a
margin for what the estimate leaves out; bench/bench_memory.py prints them next to the peak
memory measured.

- latents: the segment's noisy latent, its condition and the denoised accumulator (float32), the
  carried context frames included, and one more for the transient initial noise;
- condition: one chunk of output-sized float32 frames (bicubic, mirrored, restored), plus the
  VAE encoder's activations over that chunk;
- decode: the VAE decoder's activations over one decode chunk (space-to-depth decodes in place);
- output: the segment's frames in the clip's dtype (kept as the session's last output);
- sap: the whole-frame tokens SAP gathers, per window and attention layer, for two steps;
- unet: one tile pass's activations.
"""

from __future__ import annotations

from dataclasses import dataclass

from .conditioning import CONDITION_CHUNK, Geometry
from .segments import context_frames

MARGIN = 1.25  # what the figures leave out (allocator slack, small tensors): measured below 1.2
ENCODE_BYTES_PER_CHANNEL = 5 * 4   # live float32 activations per encoder channel and pixel (measured)
DECODE_BYTES_PER_CHANNEL = 10 * 4  # the temporal decoder keeps more alive (measured)
UNET_BYTES_PER_CHANNEL = 24 * 4    # per latent position, at the UNet's widest level


@dataclass(frozen=True)
class MemoryNeed:
    """Bytes by part; `total` includes the margin."""

    latents: int
    condition: int
    decode: int
    output: int
    sap: int
    unet: int

    @property
    def total(self) -> int:
        parts = (self.latents, self.condition, self.decode, self.output, self.sap, self.unet)
        return int(sum(parts) * MARGIN)

    def describe(self) -> str:
        gib = 2 ** 30
        return (f"{self.total / gib:.1f} GiB (latents {self.latents / gib:.1f}, condition "
                f"{self.condition / gib:.1f}, decode {self.decode / gib:.1f}, output {self.output / gib:.1f}, "
                f"SAP {self.sap / gib:.1f}, UNet {self.unet / gib:.1f})")


def _attention_levels(unet_config) -> list[tuple[int, int]]:
    """(downsampling factor, channels) of each spatial self-attention layer of an SVD-shaped UNet."""
    layers = []
    per_block = unet_config.layers_per_block
    per_block = per_block if isinstance(per_block, int) else per_block[0]
    depth = unet_config.transformer_layers_per_block
    depth = depth if isinstance(depth, int) else depth[0]
    for level, (kind, channels) in enumerate(zip(unet_config.down_block_types, unet_config.block_out_channels,
                                                 strict=True)):
        if kind.startswith("CrossAttn"):
            # down: per_block attentions; up (mirrored): per_block + 1
            layers += [(2 ** level, channels)] * ((2 * per_block + 1) * depth)
    return layers


def segment_memory(model, settings, geo: Geometry, clip_itemsize: int = 1) -> MemoryNeed:
    """The memory one segment of this clip needs at its peak (see the module's docstring)."""
    s = settings
    h, w = geo.latent_hw
    pixels = geo.pad_h * geo.pad_w
    frames = s.segment_frames + (context_frames(s) if s.tap else 0)
    latent = model.latent.channels * h * w * 4
    vae = getattr(model.latent, "vae", None)
    chunk = min(getattr(model.latent, "encode_chunk", CONDITION_CHUNK), s.segment_frames)
    condition = chunk * pixels * 3 * 4 * 3
    decode_chunk = min(s.decode_chunk, s.segment_frames)
    if vae is not None:
        channels = list(vae.config.block_out_channels)
        condition += chunk * pixels * channels[0] * ENCODE_BYTES_PER_CHANNEL
        decode = decode_chunk * pixels * channels[0] * DECODE_BYTES_PER_CHANNEL
    else:
        decode = decode_chunk * pixels * 3 * 4 * 4
    branches = 2 if s.guidance > 0 else 1
    window = min(s.tile_frames, frames)
    windows = max(1, -(-(frames - window) // max(1, int(window * (1 - s.frame_overlap))))) + 1
    sap = 0
    if s.sap:
        per_window = sum(branches * window * (h // f // s.sap_stride + 1) * (w // f // s.sap_stride + 1) * ch * 4
                         for f, ch in _attention_levels(model.unet.config))
        sap = 3 * 2 * windows * per_window  # hidden states, keys and values; this step's and the next's
    tile = min(s.tile_size, h) * min(s.tile_size, w)
    unet = branches * window * tile * max(model.unet.config.block_out_channels) * UNET_BYTES_PER_CHANNEL
    output = s.segment_frames * geo.out_h * geo.out_w * 3 * clip_itemsize
    return MemoryNeed(latents=4 * frames * latent, condition=condition, decode=decode, output=output, sap=sap,
                      unet=unet)
