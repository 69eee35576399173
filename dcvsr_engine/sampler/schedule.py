"""EDM sampling: Karras sigmas from the model's scheduler, preconditioning and the Euler step.

The diffusers scheduler provides the sigmas and the UNet's noise conditioning
exactly as the SVD pipeline uses them; the step itself is done here because a
tiled sampler merges many tiles' predictions into one latent before stepping,
which the scheduler's internal step counter does not allow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from dcvsr_protocol.errors import ModelError


@dataclass(frozen=True)
class Schedule:
    sigmas: tuple[float, ...]      # steps + 1 values, the last one 0
    timesteps: tuple[float, ...]   # the UNet's noise conditioning per step
    init_noise_sigma: float
    prediction_type: str

    @classmethod
    def from_scheduler(cls, scheduler, steps: int) -> Schedule:
        scheduler.set_timesteps(steps)
        prediction = scheduler.config.prediction_type
        if prediction not in ("v_prediction", "epsilon"):
            raise ModelError(f"scheduler/scheduler_config.json: prediction_type {prediction!r} is not "
                             "supported (v_prediction or epsilon)")
        return cls(tuple(float(s) for s in scheduler.sigmas), tuple(float(t) for t in scheduler.timesteps),
                   float(scheduler.init_noise_sigma), prediction)

    @property
    def steps(self) -> int:
        return len(self.timesteps)

    def model_input(self, x: torch.Tensor, i: int) -> torch.Tensor:
        return x / math.sqrt(self.sigmas[i] ** 2 + 1.0)

    def denoised(self, x: torch.Tensor, output: torch.Tensor, i: int) -> torch.Tensor:
        """The model's estimate of the clean latent from its raw output."""
        sigma = self.sigmas[i]
        if self.prediction_type == "epsilon":
            return x - sigma * output
        return output * (-sigma / math.sqrt(sigma ** 2 + 1.0)) + x / (sigma ** 2 + 1.0)

    def step(self, x: torch.Tensor, denoised: torch.Tensor, i: int) -> torch.Tensor:
        """One Euler step from sigma_i to sigma_{i+1}."""
        sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]
        if sigma_next == 0.0:
            return denoised
        return x + (x - denoised) / sigma * (sigma_next - sigma)

    def last_nonzero_sigma(self) -> float:
        return min(s for s in self.sigmas if s > 0.0)
