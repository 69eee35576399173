"""The DC-VSR sampler: the paper's inference loop (Fig. 2), segment by segment.

For one segment:
 1. bicubic-upscale the LR frames (and refine them with the model's restorer,
    if it has one), encode them into the model's latent space
    (latent l; SVD's VAE, or see model/latent.py) and embed them with the
    image encoder;
 2. start from noise that depends only on (seed, frame, latent position)
    (optionally shared between frames where the picture stands still), or,
    with start_sigma, from the condition's own picture noised to that level
    (SDEdit); carried context frames start from, and stay pinned to, the
    previous segment's trajectory;
 3. for each step i: split into 64x64x14 tiles overlapping by half in space
    and time, denoise every tile with the UNet on [x_t ; l] (SAP on even
    steps, TAP on odd steps, forward and backward in turn; classifier-free
    guidance whose unconditional branch uses DSSAG), merge with Gaussian
    weights, and take an Euler step;
 4. decode from the latent space in chunks that start at the segment start.
A whole clip is rendered as its canonical segments in order, so a clip
rendered in one call and one rendered segment by segment (carrying the state
between processes) give the same pixels.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from dcvsr_protocol.errors import InputError
from dcvsr_protocol.settings import Settings

from ..attention import SAPCall, SAPGather, SAPLayout, TAPCall, TileCall, dssag, install_processors
from ..attention.sap import records_ahead, sap_passes
from ..attention.tap import tap_passes
from ..model.footage import decide_footage
from .carry import CarriedState
from .conditioning import Geometry, encode_condition, image_embeddings
from .noise import Stillness, clip_noise, static_noise
from .plan import Plan
from .schedule import Schedule
from .segments import Segment
from .tiles import SpatialGrid, TemporalGrid, Tile, Window

Progress = Callable[[Segment, int, int], None]  # (segment, passes done, passes in the segment)


@dataclass
class Pass:
    window: Window
    tile: Tile
    call: TileCall
    merge: bool = True   # False for SAP's gather pass: its output is not used


class DCVSRSampler:
    """Samples one clip's settings with one model. Not thread-safe: one render at a time per model."""

    def __init__(self, model, settings: Settings):
        self.model, self.settings = model, settings
        self.schedule = Schedule.from_scheduler(model.scheduler, settings.steps, settings.start_sigma)
        self.gammas = dssag.step_gammas(self.schedule.sigmas, settings)
        self.branches = 2 if settings.guidance > 0 else 1
        # The sampler's plan is public: callers ask it for geometry, segments, tile grids and pass
        # counts, the same answers the sampler runs by.
        self.plan = Plan(settings, vae_factor=model.latent.factor,
                         unet_multiple=2 ** (len(model.unet.config.down_block_types) - 1))
        self.passes = 0  # UNet tile passes run so far (benchmarks read it)

    def chain_key(self, geo: Geometry) -> str:
        """What a carried state must have been made with to be used here."""
        payload = [self.settings.key(), self.model.fingerprint, str(self.model.dtype), geo.__dict__]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def open(cls, model, quality: str = "full", **overrides: Any) -> DCVSRSampler:
        """The sampler for a loaded model at a quality: the model's defaults at that quality, then the
        overrides. Every caller (the CLI, the renderer, the evaluation, the benchmarks) opens one so."""
        return cls(model, Settings.for_model(model.defaults(quality), **overrides))

    def for_clip(self, read: Callable[[int], np.ndarray], num_frames: int,
                 log: Callable[[str], None] | None = None) -> DCVSRSampler:
        """This sampler, or one with footage=auto decided for the clip from frames read(i) (float RGB,
        (H, W, 3)) that depend only on its length (model/footage.py): call before its first frame."""
        decided = decide_footage(self.model, self.settings, read, num_frames, log)
        return self if decided == self.settings else DCVSRSampler(self.model, decided)

    # -- one segment ---------------------------------------------------------------------------
    @torch.no_grad()
    def render_segment(self, segment: Segment, frames: np.ndarray, geo: Geometry,
                       carry: CarriedState | None = None, carry_frames: int = 0,
                       progress: Progress | None = None,
                       finish: Callable[[np.ndarray], np.ndarray] | None = None
                       ) -> tuple[np.ndarray, CarriedState | None]:
        """Render a segment's frames: (n, in_h, in_w, 3) float32 in [0, 1] -> (n, out_h, out_w, 3).

        `carry` is the previous segment's state when `segment.context` > 0; `carry_frames` is
        how many of this segment's last frames the next segment needs carried (0: none). `finish`
        converts each decoded chunk (float32 in [0, 1]) elementwise, e.g. to the clip's dtype, so
        the whole segment is never held in float32.
        """
        model, s = self.model, self.settings
        device = model.device
        context = segment.context
        if frames.shape != (segment.frames, geo.in_h, geo.in_w, 3) or not np.isfinite(frames).all():
            raise InputError(f"segment {segment.index} needs {segment.frames} finite frames of "
                             f"{geo.in_w}x{geo.in_h} RGB; got an array of shape {frames.shape}")
        self._check_carry(segment, geo, carry)
        self.attention = install_processors(model.unet, s.dssag_layers)

        # 1. Conditioning: LR latent l and image embeddings, the carried context first.
        lr = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(device)
        still = Stillness(model.latent.factor) if s.static_noise > 0.0 else None
        cond = encode_condition(model, lr, geo, s.footage, still.add if still else None)
        embeds = image_embeddings(model, lr)
        if context:
            cond = torch.cat([carry.cond_latents.to(device), cond])
            embeds = torch.cat([carry.image_embeds.to(device), embeds])

        # 2. Initial latents.
        h, w = geo.latent_hw
        in_shot = range(segment.start - segment.shot, segment.stop - segment.shot)  # see segments.py
        noise = clip_noise(s.seed, in_shot, model.latent.channels, h, w).to(device)
        if still is not None:
            noise = static_noise(noise, s.seed, still.result(), s.static_noise)
        if s.start_sigma > 0.0:  # SDEdit: the condition's own picture (its latent), noised to start_sigma
            x = model.latent.condition_target(cond[context:]).add_(noise.mul_(self.schedule.sigmas[0]))
        else:
            x = noise.mul_(self.schedule.init_noise_sigma)
        del noise
        if context:
            x = torch.cat([carry.trajectory[0].to(device, x.dtype), x])

        # 3. The denoising loop over tiles.
        sgrid, tgrid = self.plan.spatial_grid(geo), self.plan.temporal_grid(x.shape[0])
        layout = SAPLayout(sgrid, s.sap_stride)
        total = self.plan.passes_per_segment(len(tgrid.windows), len(sgrid.tiles))
        done = 0
        trajectory = []
        gathers: dict[int, SAPGather] = {}
        for i in range(s.steps):
            if carry_frames:
                trajectory.append(x[-carry_frames:].to("cpu", torch.float16))
            recording = ({w.index: SAPGather(layout) for w in tgrid.windows}
                         if self._records_for_next(i, len(sgrid.tiles)) else {})
            denoised = torch.zeros_like(x)
            for p in self._passes(i, tgrid, sgrid, layout, context, gathers, recording):
                where = (p.window.frames, slice(None), p.tile.rows, p.tile.cols)
                d = self._unet_pass(x[where], cond[where], embeds[p.window.frames].mean(0), i, p.call)
                if p.merge:
                    weight = (tgrid.weights[p.window.index].to(device)[:, None, None, None]
                              * sgrid.weights[p.tile.index].to(device))
                    denoised[where] += d * weight
                done += 1
                if progress:
                    progress(segment, done, total)
            gathers = recording
            x = self.schedule.step_(x, denoised, i)
            del denoised
            if context and i + 1 < s.steps:
                x[:context] = carry.trajectory[i + 1].to(device, x.dtype)

        # 4. Decode this segment's own frames, a chunk at a time into the output (no second full copy).
        finish = finish or (lambda a: a)
        out = None
        for a in range(context, x.shape[0], s.decode_chunk):
            b = min(a + s.decode_chunk, x.shape[0])
            part = model.latent.decode(x[a:b], s.decode_chunk, cond[a:b])[:, :, :geo.out_h, :geo.out_w]
            part = finish(part.permute(0, 2, 3, 1).cpu().numpy())
            if out is None:
                out = np.empty((x.shape[0] - context, *part.shape[1:]), part.dtype)
            out[a - context:b - context] = part
        new_carry = None
        if carry_frames:
            new_carry = CarriedState(segment.stop, self.chain_key(geo), torch.stack(trajectory),
                                     cond[-carry_frames:].cpu().clone(), embeds[-carry_frames:].cpu().clone())
        return out, new_carry

    def _check_carry(self, segment: Segment, geo: Geometry, carry: CarriedState | None) -> None:
        if not segment.context:
            return
        if carry is None:
            raise InputError(f"segment {segment.index} continues a chain and needs the previous segment's "
                             "carried state")
        if not carry.fits(self.chain_key(geo), segment.start, segment.context, self.settings.steps):
            raise InputError(f"the carried state does not belong to segment {segment.index} of this clip "
                             "(other settings, model, size or position)")

    def _records_for_next(self, i: int, tiles: int) -> bool:
        """Whether step i's passes record SAP tokens for step i+1 ('previous' gathering)."""
        return i + 1 < self.settings.steps and records_ahead(self.settings.sap_gather,
                                                             self.plan.step_kind(i + 1, tiles) == "sap")

    def _passes(self, i: int, tgrid: TemporalGrid, sgrid: SpatialGrid, layout: SAPLayout, context: int,
                gathers: dict[int, SAPGather], recording: dict[int, SAPGather]) -> Iterator[Pass]:
        """The tile passes of step i, in the order the method needs them."""
        kind = self.plan.step_kind(i, len(sgrid.tiles))

        def call(win: Window, tile: Tile, sap: SAPCall | None = None, tap: TAPCall | None = None) -> TileCall:
            if sap is None and win.index in recording:
                sap = SAPCall(tile, record=recording[win.index])
            return TileCall(win.length, self.branches, (tile.h, tile.w), self.gammas[i], sap, tap)

        if kind == "sap":
            for win, tile, sap, merge in sap_passes(tgrid.windows, sgrid.tiles, layout, gathers):
                yield Pass(win, tile, call(win, tile, sap), merge)
        elif kind == "tap":
            frames = self.settings.tap_frames
            for win, tile, tap in tap_passes(i, tgrid.windows, sgrid.tiles, frames, context):
                yield Pass(win, tile, call(win, tile, tap=tap))
        else:
            for win in tgrid.windows:
                for tile in sgrid.tiles:
                    yield Pass(win, tile, call(win, tile))

    def _unet_pass(self, x: torch.Tensor, cond: torch.Tensor, embed: torch.Tensor, i: int,
                   call: TileCall) -> torch.Tensor:
        """One UNet pass over a tile, both guidance branches batched; returns the guided x0 estimate."""
        model, s = self.model, self.settings
        dtype = model.dtype
        sample = torch.cat([self.schedule.model_input(x, i), cond], dim=1)[None]
        embed = embed.view(1, 1, -1)
        if self.branches == 2:
            sample, embed = dssag.prepare(sample, embed)
        time_ids = torch.tensor([[s.fps_id, s.motion_bucket_id, s.noise_aug_strength]], device=x.device)
        timestep = torch.tensor(self.schedule.timesteps[i], device=x.device)
        self.attention.call = call
        try:
            out = model.unet(sample.to(dtype), timestep, encoder_hidden_states=embed.to(dtype),
                             added_time_ids=time_ids.repeat(self.branches, 1).to(dtype)).sample.float()
        finally:
            self.attention.call = None
        self.passes += 1
        d = self.schedule.denoised(x[None], out, i)
        return dssag.combine(d, s.guidance) if self.branches == 2 else d[0]

    # -- a whole clip --------------------------------------------------------------------------
    def upscale(self, frames: Iterable[np.ndarray], num_frames: int, cuts: Iterable[int] = (),
                progress: Progress | None = None) -> Iterator[np.ndarray]:
        """Upscale a clip given as an iterable of (H, W, 3) frames; yields output frames in order.

        Memory is bounded by one segment whatever the clip length.
        """
        segments = self.plan.segments(num_frames, cuts)
        source = iter(frames)
        carry, geo = None, None
        for seg in segments:
            batch = []
            for index in range(seg.start, seg.stop):
                try:
                    batch.append(check_frame(next(source), index, geo))
                except StopIteration:
                    raise InputError(f"the clip ended at frame {index} of {num_frames} announced") from None
                if geo is None:
                    geo = self.plan.geometry(*batch[0].shape[:2])
            following = segments[seg.index + 1].context if seg.index + 1 < len(segments) else 0
            out, carry = self.render_segment(seg, np.stack(batch), geo, carry, following, progress)
            yield from out


def check_frame(frame: np.ndarray, index: int, geo: Geometry | None) -> np.ndarray:
    """A frame as float32 (H, W, 3) in [0, 1], or an InputError naming the frame."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"frame {index}: expected an (height, width, 3) RGB array, got shape {frame.shape}")
    if geo is not None and frame.shape[:2] != (geo.in_h, geo.in_w):
        raise InputError(f"frame {index}: size {frame.shape[1]}x{frame.shape[0]} differs from the clip's "
                         f"{geo.in_w}x{geo.in_h}")
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) / 255.0
    if frame.dtype == np.uint16:
        return frame.astype(np.float32) / 65535.0
    if not np.issubdtype(frame.dtype, np.floating):
        raise InputError(f"frame {index}: unsupported sample type {frame.dtype}")
    if not np.isfinite(frame).all():
        raise InputError(f"frame {index}: contains NaN or infinite values")
    # Display-referred input: values outside [0, 1] (e.g. from float images) are clipped.
    return np.clip(frame, 0.0, 1.0, dtype=np.float32)
