"""EDM training quantities, matching what the sampler inverts (sampler/schedule.py).

The sampler (as diffusers' SVD pipeline) feeds the UNet x / sqrt(sigma^2 + 1) with the noise
conditioning c_noise = 0.25 ln(sigma) and reads a v-prediction back as

    D(x; sigma) = c_skip x + c_out F,   c_skip = 1 / (sigma^2 + 1),   c_out = -sigma / sqrt(sigma^2 + 1),

which is EDM's preconditioning with sigma_data = 1 (SVD's latents are scaled to about unit
variance). Training therefore uses the same c_in, c_noise, c_skip and c_out, with EDM's loss
weight lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2. Since
lambda c_out^2 = 1, the weighted loss lambda |D - x0|^2 equals the plain |F - target|^2 with
target = (x0 - c_skip x) / c_out, which is how it is computed (no 1/sigma^2 blow-up at small
sigma).

Noise levels are log-normal, ln sigma ~ N(P_mean, P_std^2). The default (0.7, 1.6) is the
shift towards high noise that SVD's video fine-tuning uses (EDM's image default is (-1.2, 1.2)):
the sampler starts at sigma = 700 and spends about half of its Karras steps above sigma = 5,
where EDM's default would put under 1% of the training samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from dcvsr_protocol.errors import ModelError

SIGMA_DATA = 1.0


@dataclass(frozen=True)
class Preconditioning:
    """Per-sample coefficients, shaped (B,) (c_noise) or broadcastable to (B, 1, 1, 1, 1)."""

    c_in: torch.Tensor
    c_skip: torch.Tensor
    c_out: torch.Tensor
    c_noise: torch.Tensor


def check_scheduler(scheduler: Any) -> None:
    """Training implements the SVD scheduler's parameterisation only; anything else is refused."""
    cfg = scheduler.config
    if cfg.prediction_type != "v_prediction" or getattr(cfg, "timestep_type", "discrete") != "continuous":
        raise ModelError("training supports the SVD scheduler's parameterisation only (prediction_type "
                         f"v_prediction, timestep_type continuous); this model has {cfg.prediction_type}, "
                         f"{getattr(cfg, 'timestep_type', 'discrete')}")


def preconditioning(sigma: torch.Tensor) -> Preconditioning:
    """EDM (sigma_data = 1) v-prediction coefficients for (B,) sigmas, as sampler/schedule.py uses them."""
    s = sigma.double()
    view = (-1, 1, 1, 1, 1)  # (batch, frames, channels, height, width)
    c_in = (1.0 / torch.sqrt(s**2 + SIGMA_DATA**2)).view(view)
    c_skip = (SIGMA_DATA**2 / (s**2 + SIGMA_DATA**2)).view(view)
    c_out = (-s * SIGMA_DATA / torch.sqrt(s**2 + SIGMA_DATA**2)).view(view)
    c_noise = 0.25 * torch.log(s)
    return Preconditioning(c_in.float(), c_skip.float(), c_out.float(), c_noise.float())


def sample_sigmas(n: int, p_mean: float, p_std: float, generator: torch.Generator) -> torch.Tensor:
    """(n,) log-normal noise levels: one per clip, shared by its frames as in SVD."""
    return torch.exp(torch.randn(n, generator=generator, dtype=torch.float64) * p_std + p_mean).float()


def loss_weight(sigma: torch.Tensor) -> torch.Tensor:
    """EDM's lambda(sigma); the loss below applies it implicitly (see the module docstring)."""
    return (sigma**2 + SIGMA_DATA**2) / (sigma * SIGMA_DATA) ** 2


def target(x0: torch.Tensor, noisy: torch.Tensor, pre: Preconditioning) -> torch.Tensor:
    """What F must output for D to equal x0: (x0 - c_skip x) / c_out."""
    return (x0 - pre.c_skip * noisy) / pre.c_out


def denoised(noisy: torch.Tensor, output: torch.Tensor, pre: Preconditioning) -> torch.Tensor:
    return pre.c_skip * noisy + pre.c_out * output
