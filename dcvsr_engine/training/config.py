"""Everything a training run is configured by; saved in every checkpoint's state to resume exactly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from dcvsr_protocol.errors import SettingsError

# ln sigma ~ N(P_MEAN, P_STD^2): SVD's video fine-tuning values (the reasoning is in edm.py).
DEFAULT_P_MEAN, DEFAULT_P_STD = 0.7, 1.6

# What may differ when a run is resumed: none of these changes what is computed at a step.
RESUMABLE_CHANGES = frozenset({"steps", "checkpoint_every", "keep", "log_every", "device", "out", "data"})


@dataclass(frozen=True)
class TrainConfig:
    data: str                          # sources.json (see sources.py)
    out: str                           # output folder
    model: str | None = None           # base model folder or name; None: a tiny random base in OUT/base
    unet: str = "auto"                 # finetune | tiny | small | UNet config JSON; auto: finetune with
    #                                    --model, tiny without
    steps: int = 1000                  # total optimiser steps (a resumed run continues up to it)
    batch: int = 1
    lr: float | None = None            # None: 1e-5 when fine-tuning, 1e-4 from scratch
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    warmup: int = 0                    # linear learning-rate warm-up steps
    grad_clip: float = 1.0             # max gradient norm; 0 disables clipping
    ema_decay: float = 0.999
    crop: int | None = None            # HR crop side; None: the model's tile_size x 8 (its sampling tile)
    frames: int | None = None          # clip length; None: the model's tile_frames (its sampling window)
    scale: tuple[float, ...] = (4.0,)  # one is drawn per step (all the step's clips share it)
    degradation: str = "realistic"     # clean | realistic | JSON file (see degrade.py)
    p_mean: float = DEFAULT_P_MEAN     # ln sigma ~ N(p_mean, p_std^2), see edm.py
    p_std: float = DEFAULT_P_STD
    cond_drop: float = 0.1             # chance the image embedding is zeroed (the sampler's unconditional
    #                                    branch)
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"            # fp32 | bf16 (autocast on CUDA; weights and optimizer stay fp32)
    gradient_checkpointing: bool = False
    checkpoint_every: int = 500
    keep: int = 2                      # checkpoints kept (0: all)
    log_every: int = 10
    save_dtype: str = "fp32"           # unet_ema weights on disk: fp32 | fp16 | bf16
    name: str | None = None            # the model's name in dcvsr.json

    def __post_init__(self) -> None:
        scales = self.scale if isinstance(self.scale, (tuple, list)) else (self.scale,)
        object.__setattr__(self, "scale", tuple(float(v) for v in scales))
        if not self.scale or min(self.scale) <= 0:
            raise SettingsError("training scale must be one or more positive factors")
        positive = ("steps", "batch", "checkpoint_every", "log_every")
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"training {name} must be positive")
        for name in ("crop", "frames", "lr"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise SettingsError(f"training {name} must be positive")
        if not 0.0 <= self.ema_decay < 1.0:
            raise SettingsError("training ema_decay must be in [0, 1)")
        if not 0.0 <= self.cond_drop <= 1.0:
            raise SettingsError("training cond_drop must be in [0, 1]")
        if self.p_std <= 0:
            raise SettingsError("training p_std must be positive")
        if self.precision not in ("fp32", "bf16"):
            raise SettingsError("training precision must be fp32 or bf16")
        if self.save_dtype not in ("fp32", "fp16", "bf16"):
            raise SettingsError("training save_dtype must be fp32, fp16 or bf16")
        if min(self.warmup, self.keep, self.seed, self.grad_clip, self.weight_decay) < 0:
            raise SettingsError("training warmup, keep, seed, grad_clip and weight_decay must not be "
                                "negative")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})

    def differences(self, other: TrainConfig) -> list[str]:
        """Settings that differ and would change what a resumed run computes."""
        a, b = self.to_dict(), other.to_dict()
        return [k for k in a if k not in RESUMABLE_CHANGES and a[k] != b[k]]
