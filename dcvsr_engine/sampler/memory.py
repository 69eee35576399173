"""What rendering a clip's segments costs in memory, estimated before any of it is spent.

The engine compares this with the memory it is allowed (server/limits.py) and refuses a session
that would not fit, instead of being killed halfway through a segment. The figures are the large
buffers the sampler holds at its peak, each sized by one segment (never by the clip), with a
margin for what the estimate leaves out; bench/bench_memory.py prints them next to the peak
memory measured.

- latents: the segment's noisy latent, its condition and the denoised accumulator (float32), the
  carried context frames included (the initial noise becomes the latent in place, and the Euler
  step works in place);
- condition: one chunk of output-sized float32 frames and their temporaries (bicubic, mirrored,
  restored, encoded), the restorer's work on one frame
  (model/restorer.py), and the VAE encoder's activations over one tile of that chunk
  (model/vae_tiling.py: a frame larger than a tile is encoded and decoded tile by tile);
- decode: the VAE decoder's activations over one tile of a decode chunk, and the chunk's blended
  frames when it is tiled (space-to-depth decodes in place);
- input: the segment's frames as float32, twice (converted frame by frame, then stacked);
- output: the segment's frames in the clip's dtype, twice: the one being rendered and the previous
  segment's, which its consumer still holds (the session's last output, the job's storing thread);
- sap: the whole-frame tokens SAP gathers per window and attention layer (recorded for the next
  step, and this step's with their keys and values);
- unet: one tile pass's activations.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, replace

from dcvsr_protocol.errors import DCVSRError
from dcvsr_protocol.settings import Settings

from ..model.restorer import WORK_BYTES_PER_PIXEL
from ..model.vae_tiling import DECODE_BYTES_PER_CHANNEL, ENCODE_BYTES_PER_CHANNEL
from ..sizes import parse_size
from .conditioning import CONDITION_CHUNK, Geometry
from .segments import context_frames
from .tiles import axis_starts

MARGIN = 1.1  # what the figures leave out (allocator slack, small tensors)
# What the first render adds whatever its size (libraries' working memory, thread pools): the tiny model's
# one-frame renders at 480p and 1080p peaked 0.03 to 0.06 GiB above the figures times MARGIN.
OVERHEAD = 256 << 20
UNET_BYTES_PER_CHANNEL = 24 * 4    # per latent position, at the UNet's widest level
# Per output pixel of a condition chunk (float32, 3 channels): the bicubic upscale, its mirrored copy and
# the encoder's input; with a restorer also its output and the copy the encoder takes (nano's 4-frame
# chunks of a 1080p x2 segment measured 2.96 GiB with the restorer's per-frame work, 2.29 without those).
CONDITION_BYTES_PER_PIXEL = 36
RESTORED_BYTES_PER_PIXEL = 24


@dataclass(frozen=True)
class MemoryNeed:
    """Bytes by part; `total` includes the margin."""

    latents: int
    condition: int
    decode: int
    input: int
    output: int
    sap: int
    unet: int

    @property
    def total(self) -> int:
        """The latents, the input and the output live through the segment; conditioning, the denoising
        loop (SAP's tokens and a tile pass) and decoding come one after another, so only the largest
        counts; then the margin and a fixed overhead."""
        phases = max(self.condition, self.decode, self.sap + self.unet)
        return int((self.latents + self.input + self.output + phases) * MARGIN) + OVERHEAD

    def describe(self) -> str:
        gib = 2 ** 30
        parts = ", ".join(f"{name} {value / gib:.2f}" for name, value in (
            ("latents", self.latents), ("condition", self.condition), ("decode", self.decode),
            ("input", self.input), ("output", self.output), ("SAP", self.sap), ("UNet", self.unet)))
        return f"{self.total / gib:.2f} GiB ({parts})"


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
    condition = chunk * pixels * CONDITION_BYTES_PER_PIXEL
    if model.restorer is not None:  # it refines one frame of the chunk at a time
        condition += pixels * WORK_BYTES_PER_PIXEL + chunk * pixels * RESTORED_BYTES_PER_PIXEL
    decode_chunk = min(s.decode_chunk, s.segment_frames)
    if vae is not None:
        channels, tiles = vae.config.block_out_channels[0], model.latent.tiles
        area = tiles.area(h, w)
        condition += chunk * area * channels * ENCODE_BYTES_PER_CHANNEL
        decode = decode_chunk * area * channels * DECODE_BYTES_PER_CHANNEL
        if tiles.tiled(h, w):
            decode += decode_chunk * pixels * 3 * 4
    else:
        decode = decode_chunk * pixels * 3 * 4 * 4
    branches = 2 if s.guidance > 0 else 1
    window = min(s.tile_frames, frames)
    windows = len(axis_starts(frames, window, s.frame_overlap))
    sap = 0
    if s.sap:
        stride = s.sap_stride
        per_window = sum(branches * window * (h // f // stride + 1) * (w // f // stride + 1) * ch * 4
                         for f, ch in _attention_levels(model.unet.config))
        # the hidden states recorded for the next step (every window), and this step's: a window's
        # hidden states until it is done, with their keys and values
        sap = (2 * windows + 2) * per_window
    tile = min(s.tile_size, h) * min(s.tile_size, w)
    unet = branches * window * tile * max(model.unet.config.block_out_channels) * UNET_BYTES_PER_CHANNEL
    inputs = 2 * s.segment_frames * geo.in_h * geo.in_w * 3 * 4
    output = 2 * s.segment_frames * geo.out_h * geo.out_w * 3 * clip_itemsize
    return MemoryNeed(latents=3 * frames * latent, condition=condition, decode=decode, input=inputs,
                      output=output, sap=sap, unet=unet)


class MemoryLimitError(DCVSRError):
    """A clip would need more memory than the engine (or the dcvsr command) is allowed to use."""


def machine_memory() -> int:
    """The memory this process may use at most: physical memory, capped by a cgroup's limit and by
    RLIMIT_AS where set."""
    limits = [os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")]
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            limits.append(int(text))
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(soft)
    return min(limits)


def allowance() -> int:
    """The memory allowance: DCVSR_MEMORY ('12G', ...) if set, else 80% of machine_memory()."""
    text = os.environ.get("DCVSR_MEMORY")
    if text:
        try:
            return parse_size(text)
        except ValueError:
            raise MemoryLimitError(f"DCVSR_MEMORY={text!r} is not a size (e.g. 12G)") from None
    return int(machine_memory() * 0.8)


def resident_bytes() -> int:
    """This process's resident memory now (Linux), else its peak so far."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def available_memory() -> int:
    """What a render may use now: the allowance less what this process already holds (its loaded models)."""
    return allowance() - resident_bytes()


SEGMENT_LENGTHS = (32, 24, 16, 12, 8, 6, 4, 2, 1)  # what a refusal names, and what a default is shortened to


def longest_fitting(model, settings, geo: Geometry, available: int, clip_itemsize: int = 1) -> int | None:
    """The longest of SEGMENT_LENGTHS, shorter than the settings' segments, whose need fits `available`."""
    return next((n for n in SEGMENT_LENGTHS if n < settings.segment_frames
                 and segment_memory(model, replace(settings, segment_frames=n), geo, clip_itemsize).total
                 <= available), None)


def check_fits(model, settings, geo: Geometry, available: int, clip_itemsize: int = 1) -> MemoryNeed:
    """The segment's need, or a MemoryLimitError that names the limit and the segment length that fits."""
    need = segment_memory(model, settings, geo, clip_itemsize)
    if need.total <= available:
        return need
    fits = longest_fitting(model, settings, geo, available, clip_itemsize)
    hint = (f"segment_frames={fits} fits" if fits
            else "no segment length fits: lower the scale or the frame size")
    gib = 2 ** 30
    raise MemoryLimitError(
        f"memory limit: {geo.in_w}x{geo.in_h} -> {geo.out_w}x{geo.out_h} with segments of "
        f"{settings.segment_frames} frames needs about {need.total / gib:.1f} GiB, more than the "
        f"{available / gib:.1f} GiB allowed (DCVSR_MEMORY, or dcvsr serve --memory); {hint}")


def fit_segments(model, settings, geo: Geometry, available: int, clip_itemsize: int = 1,
                 chosen: bool = False) -> tuple[Settings, MemoryNeed]:
    """The settings a clip renders with inside `available` bytes, and their need.

    The settings as they are when they fit. Else, when the segment length is the model's default (not
    `chosen` by the user), the longest of SEGMENT_LENGTHS that fits: a large frame renders in shorter
    segments instead of being refused (what used to be refused, so nothing that rendered changes).
    Else the MemoryLimitError of check_fits, naming the limit and what fits."""
    try:
        return settings, check_fits(model, settings, geo, available, clip_itemsize)
    except MemoryLimitError:
        fits = None if chosen else longest_fitting(model, settings, geo, available, clip_itemsize)
        if fits is None:
            raise
    shorter = replace(settings, segment_frames=fits)
    return shorter, segment_memory(model, shorter, geo, clip_itemsize)
