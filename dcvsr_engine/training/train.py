"""EDM training of the DC-VSR denoiser, conditioned exactly as the sampler conditions it.

Per step, for each of `batch` clips (a function of seed and step only, see dataset.py):
  HR clip (T frames) -> degrade -> LR clip;
  x0   = the latent space's target of the HR frames (VAE: mode x scaling_factor; the latent the
         sampler decodes; see model/latent.py)
  l    = its condition of the bicubic-upscaled LR frames (VAE: mode, unscaled; sampler/conditioning.py),
         refined by the model's restorer, if it has one, with the clip's footage bank (see batch)
  emb  = mean CLIP image embedding of the LR frames        (one window's, as the sampler uses)
  sigma ~ logN(P_mean, P_std^2), x = x0 + sigma n;
  F    = UNet(cat[c_in x, l], c_noise, emb (zeroed with probability cond_drop: the sampler's
         unconditional branch), added_time_ids = the model's (fps_id, motion_bucket_id, noise_aug));
  loss = |F - (x0 - c_skip x) / c_out|^2 = lambda(sigma) |D(x) - x0|^2   (edm.py).
The VAE (if the latent space has one) and the image encoder are frozen; the UNet is trained with
AdamW and tracked by an EMA, which is what checkpoints store in unet_ema/.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from dcvsr_protocol.errors import ModelError, SettingsError
from dcvsr_protocol.settings import Settings

from ..model import layout
from ..model.devices import pick_device
from ..model.info import make_info
from ..model.loading import load_model
from ..model.nano import NANO, make_nano_base
from ..model.tiny import make_tiny
from ..sampler.conditioning import condition_frames, geometry, image_embeddings
from . import checkpoint as ckpt
from .config import TrainConfig
from .dataset import ClipDataset, DataConfig
from .degrade import CLEAN, degradation_config, degrade, draw_config, lr_size
from .edm import check_scheduler, preconditioning, sample_sigmas, target
from .ema import EMA
from .plot import plot_losses
from .sources import expand_sources, manifest, read_sources
from .state import load_state, save_state
from .unets import FINETUNE, PRESETS, build_unet, check_fits, unet_config

Log = Callable[[str], None]


@dataclass
class Encoded:
    """A batch as the UNet sees it."""

    x0: torch.Tensor      # (B, T, C, h, w) scaled HR latents
    cond: torch.Tensor    # (B, T, C, h, w) unscaled LR latents
    embeds: torch.Tensor  # (B, D) mean image embedding of each clip's LR frames


def step_seed(seed: int, step: int, stream: int) -> int:
    """An independent seed per (run seed, step, purpose): a step's randomness never depends on history."""
    return int(np.random.default_rng([seed, step, stream]).integers(2**62))


class Trainer:
    """One training run: set up from a TrainConfig (resuming from OUT when asked), then `run()`."""

    def __init__(self, config: TrainConfig, resume: bool = False, log: Log = print) -> None:
        self.log = log
        entries = read_sources(Path(config.data).expanduser())  # licence errors before anything is made
        self.degradation = degradation_config(config.degradation)
        out = Path(config.out).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        previous = ckpt.latest_checkpoint(out)
        if previous is not None and not resume:
            raise SettingsError(f"{out} already holds a training run (latest: {previous.name}); resume it "
                                "with --resume, or choose a new --out")

        # Frozen components (and the UNet when fine-tuning) from the base model.
        self.base = self._base(config, out)
        self.device = pick_device(config.device)
        model = load_model(self.base, device=str(self.device), dtype="fp32")
        check_scheduler(model.scheduler)
        self.model = model
        self.vae_factor = model.latent.factor
        self.settings = Settings.for_model(model.defaults())

        mode = config.unet if config.unet != "auto" else (FINETUNE if config.model else "tiny")
        if mode == FINETUNE:
            unet = model.unet
        else:
            unet_cfg = unet_config(mode)
            if mode in PRESETS:  # a preset's latent channels follow the base's latent space
                unet_cfg.update(in_channels=2 * model.latent.channels, out_channels=model.latent.channels)
            unet = build_unet(unet_cfg, config.seed)
        check_fits(unet, model.latent, model.image_encoder)
        unet = torch.nn.Module.to(unet, device=self.device, dtype=torch.float32)
        unet.requires_grad_(True)
        unet.train()
        if config.gradient_checkpointing:
            unet.enable_gradient_checkpointing()
        model.unet = unet
        self.unet, self.mode = unet, mode
        self.unet_multiple = 2 ** (len(unet.config.down_block_types) - 1)

        config = replace(
            config, unet=mode,
            lr=config.lr if config.lr is not None else (1e-5 if mode == FINETUNE else 1e-4),
            crop=config.crop or self.settings.tile_size * self.vae_factor,
            frames=config.frames or self.settings.tile_frames)
        self.config = config
        self._check_geometry()

        sources = expand_sources(entries, config.frames, config.crop)
        self.manifest = manifest(sources)
        self.dataset = ClipDataset(sources, DataConfig(frames=config.frames, crop=config.crop))

        self.params = {k: p for k, p in unet.named_parameters() if p.requires_grad}
        self.optimizer = torch.optim.AdamW(list(self.params.values()), lr=config.lr, betas=config.betas,
                                           weight_decay=config.weight_decay, foreach=True)
        self.ema = EMA(self.params, config.ema_decay)
        self.step = 0
        self.losses: list[float] = []
        if previous is not None:
            self._resume(previous)
        layout.write_json(out / "manifest.json", self.manifest)

    # -- setup ---------------------------------------------------------------------------------
    def _base(self, config: TrainConfig, out: Path) -> Path:
        if config.model:
            return layout.resolve_model_path(config.model)
        base = out / "base"
        if not layout.is_installed(base):
            # nano: its latent space and frozen tiny image encoder; otherwise a tiny random VAE and image
            # encoder, enough to exercise training end to end.
            kind, make = (NANO, make_nano_base) if config.unet == NANO else ("tiny", make_tiny)
            make(base, seed=config.seed)
            self.log(f"dcvsr train: no --model: wrote a random {kind} base model to {base}")
        return base

    def _check_geometry(self) -> None:
        c = self.config
        multiple = self.vae_factor * self.unet_multiple
        if c.crop % multiple:
            raise SettingsError(f"--crop {c.crop} must be a multiple of {multiple} (the VAE's factor "
                                f"{self.vae_factor} x the UNet's downsampling {self.unet_multiple})")
        self.geometries = {}
        for scale in c.scale:
            h, w = lr_size(c.crop, c.crop, scale)
            geo = geometry(h, w, scale, self.vae_factor, self.unet_multiple)
            if (geo.out_h, geo.out_w, geo.pad_h, geo.pad_w) != (c.crop,) * 4:
                raise SettingsError(f"--crop {c.crop} at --scale {scale:g} does not round-trip through the "
                                    "sampler's geometry")
            self.geometries[lr_size(c.crop, c.crop, scale)] = geo

    def _resume(self, folder: Path) -> None:
        state_dir = folder / ckpt.STATE_DIR
        meta = load_state(state_dir, self.params, self.ema.shadow, self.optimizer)
        saved = TrainConfig.from_dict(meta["config"])
        diff = self.config.differences(saved)
        if diff:
            changes = ", ".join(f"{k}: {getattr(saved, k)!r} -> {getattr(self.config, k)!r}" for k in diff)
            raise SettingsError(f"cannot resume {folder}: settings differ from the saved run's ({changes})")
        if meta.get("data_digest") != self.manifest["digest"]:
            raise SettingsError(f"cannot resume {folder}: the training data (files, sizes or licences) "
                                "changed")
        self.step = int(meta["step"])
        self.losses = [float(v) for v in meta["losses"]]
        self.log(f"dcvsr train: resumed from {folder} at step {self.step}")

    # -- one step ------------------------------------------------------------------------------
    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """(B, T, 3, H, W) HR and (B, T, 3, H/s, W/s) LR clips for `step`, in [0, 1], and each clip's
        `footage` setting: what it is ("clean" or "degraded") or, half the time, "auto", so a model
        with a restorer learns every bank's condition."""
        c = self.config
        scale = c.scale[int(np.random.default_rng([c.seed, step, 3]).integers(len(c.scale)))]
        hr, lr, footage = [], [], []
        for b in range(c.batch):
            clip = self.dataset.sample(c.seed, step, b)
            hr.append(clip)
            degrade_seed = [c.seed, step, b, 1]
            lr.append(degrade(clip, self.degradation, scale, np.random.default_rng(degrade_seed)))
            # degrade() draws clean-or-not first: the same seed tells which this clip got.
            clean = draw_config(self.degradation, np.random.default_rng(degrade_seed)) is CLEAN
            auto = np.random.default_rng([c.seed, step, b, 2]).random() < 0.5
            footage.append("auto" if auto else "clean" if clean else "degraded")
        return torch.stack(hr), torch.stack(lr), footage

    @torch.no_grad()
    def encode(self, hr: torch.Tensor, lr: torch.Tensor, footage: list[str]) -> Encoded:
        """The frozen encoders (and restorer), exactly as the sampler uses them on LR and decodes HR."""
        latent = self.model.latent
        b, t = hr.shape[:2]
        hr = hr.to(self.device).flatten(0, 1)
        geo = self.geometries[tuple(lr.shape[-2:])]
        lr = lr.to(self.device)
        cond = latent.encode_condition(torch.cat([condition_frames(self.model, clip, geo, kind)
                                                  for clip, kind in zip(lr, footage, strict=True)]))
        lr = lr.flatten(0, 1)
        x0 = latent.encode_target(hr, cond)
        embeds = image_embeddings(self.model, lr).view(b, t, -1).mean(1)
        return Encoded(x0.view(b, t, *x0.shape[1:]), cond.view(b, t, *cond.shape[1:]), embeds)

    def loss(self, enc: Encoded, sigma: torch.Tensor, noise: torch.Tensor,
             keep: torch.Tensor) -> torch.Tensor:
        """EDM loss for given noise levels (B,), noise like x0 and embedding keep mask (B,)."""
        s = self.settings
        sigma, noise, keep = sigma.to(self.device), noise.to(self.device), keep.to(self.device)
        pre = preconditioning(sigma)
        noisy = enc.x0 + sigma.view(-1, 1, 1, 1, 1) * noise
        sample = torch.cat([noisy * pre.c_in, enc.cond], dim=2)
        embeds = (enc.embeds * keep.view(-1, 1).to(enc.embeds.dtype))[:, None]
        time_ids = torch.tensor([[s.fps_id, s.motion_bucket_id, s.noise_aug_strength]], device=self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.config.precision == "bf16" and self.device.type == "cuda"):
            out = self.unet(sample, pre.c_noise, encoder_hidden_states=embeds,
                            added_time_ids=time_ids.repeat(sample.shape[0], 1)).sample
        return ((out.float() - target(enc.x0, noisy, pre)) ** 2).mean()

    def optimise(self, enc: Encoded, step: int) -> float:
        """One AdamW step on `enc` with step `step`'s noise; returns the loss."""
        c = self.config
        gen = torch.Generator().manual_seed(step_seed(c.seed, step, 2))
        sigma = sample_sigmas(enc.x0.shape[0], c.p_mean, c.p_std, gen)
        noise = torch.randn(enc.x0.shape, generator=gen)
        keep = (torch.rand(enc.x0.shape[0], generator=gen) >= c.cond_drop).float()
        for group in self.optimizer.param_groups:
            group["lr"] = c.lr * min(1.0, (step + 1) / c.warmup) if c.warmup else c.lr
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(enc, sigma, noise, keep)
        if not torch.isfinite(loss):
            raise ModelError(f"training diverged at step {step}: loss {loss.item()}")
        loss.backward()
        if c.grad_clip:
            torch.nn.utils.clip_grad_norm_(list(self.params.values()), c.grad_clip, foreach=True)
        self.optimizer.step()
        self.ema.update(self.params, step)
        return float(loss.detach())

    def train_step(self) -> float:
        loss = self.optimise(self.encode(*self.batch(self.step)), self.step)
        self.step += 1
        self.losses.append(loss)
        return loss

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> Path | None:
        """Train up to config.steps, checkpointing on the way; returns the last checkpoint."""
        c = self.config
        last = ckpt.latest_checkpoint(self.out)
        self.log(f"dcvsr train: {self.mode} UNet ({sum(p.numel() for p in self.params.values()) / 1e6:.2f} M "
                 f"parameters) on {self.device}, {len(self.dataset.sources)} sources, clips of {c.frames} x "
                 f"{c.crop}px at x{'/'.join(f'{v:g}' for v in c.scale)}, batch {c.batch}, "
                 f"steps {self.step} -> {c.steps}")
        started, since = time.monotonic(), self.step
        while self.step < c.steps:
            loss = self.train_step()
            if self.step % c.log_every == 0 or self.step == c.steps:
                window = self.losses[-c.log_every:]
                rate = (time.monotonic() - started) / (self.step - since)
                self.log(f"step {self.step}/{c.steps}  loss {loss:.4f}  avg {sum(window) / len(window):.4f}  "
                         f"lr {self.optimizer.param_groups[0]['lr']:.2e}  {rate:.2f} s/step")
            if self.step % c.checkpoint_every == 0 or self.step == c.steps:
                last = self.save()
                self.log(f"dcvsr train: wrote {last}")
        return last

    def save(self) -> Path:
        c = self.config
        licences = ", ".join(self.manifest["licences"])
        info = make_info(c.name or f"dcvsr-{self.mode}-step{self.step}",
                         f"DC-VSR UNet trained with `dcvsr train` ({self.mode}) for {self.step} steps on "
                         f"{len(self.dataset.sources)} sources (licences: {licences}); "
                         f"frozen components from {self.base}.", self.model.defaults(),
                         latent=self.model.info.get("latent"), presets=self.model.info.get("presets"))
        info["training"] = self._training_info()
        if "restorer" in self.model.info:  # how the base's restorer was fitted (scripts/fit_restorer.py)
            info["restorer"] = self.model.info["restorer"]
        meta: dict[str, Any] = {"step": self.step, "config": c.to_dict(), "losses": self.losses,
                                "data_digest": self.manifest["digest"]}
        path = ckpt.write_checkpoint(
            self.out, self.step, self.base, self.unet, self.ema.shadow, info, self.manifest, c.save_dtype,
            lambda folder: save_state(folder, self.params, self.ema.shadow, self.optimizer, meta))
        ckpt.prune(self.out, c.keep)
        plot_losses(list(range(1, len(self.losses) + 1)), self.losses, self.out / "loss.png",
                    f"dcvsr train: {self.mode} UNet, EDM loss per step")
        return path

    def _training_info(self) -> dict[str, Any]:
        c = self.config
        return {"step": self.step, "unet": self.mode, "base": str(self.base), "scale": list(c.scale),
                "crop": c.crop, "frames": c.frames, "degradation": c.degradation,
                "sigma": {"p_mean": c.p_mean, "p_std": c.p_std}, "ema_decay": c.ema_decay,
                "licences": self.manifest["licences"], "data_manifest": ckpt.DATA_MANIFEST}
