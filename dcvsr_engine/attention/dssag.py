"""DSSAG: Detail-Suppression Self-Attention Guidance.

The unconditional branch of classifier-free guidance uses a flatter
self-attention, like a wider non-local-means filter:

    SA(Q, K, V, gamma) = softmax(Q K^T / (max(gamma^2 * q * k, 1) * sqrt(d))) V

with q and k the largest absolute entries of Q and K. Guidance then costs two
UNet passes per step: eps = eps'(x) + (1 + s)(eps(x, c) - eps'(x)).

As diffusers keeps PAG in pag_utils.py, this file owns all of DSSAG: the gamma of each step
(`step_gammas`), which layers flatten (`flattens`), the unconditional branch put beside the
conditional one before a pass (`prepare`), the flattening inside attention (`flatten_unconditional`)
and the guided result after the pass (`combine`).

Choices where the paper is silent:
- q and k are taken per head and per frame; k over every key the frame
  attends to, including tokens SAP or TAP appended.
- Which layers: every spatial self-attention by default (`dssag_layers`
  setting; 'propagation' limits it to SAP/TAP's four layers).
- The unconditional branch drops the CLIP image embedding (zeros), never the
  LR latent, which would leave nothing to super-resolve.
- Schedule: with u = (ln sigma_i - ln sigma_max) / (ln sigma_min - ln sigma_max),
  rising from 0 at the noisiest step to 1 at the last non-zero sigma, the
  paper's formula read literally gives gamma = u ** rho (weak at high noise);
  the stated intent, strong suppression at high noise and weak at low noise,
  is gamma = (1 - u) ** rho, the default ('intent').
"""

from __future__ import annotations

import math

import torch
from dcvsr_protocol.settings import Settings


def gamma_schedule(sigmas: tuple[float, ...], rho: float, direction: str, gamma_max: float) -> list[float]:
    """Gamma for each step (one per non-final sigma)."""
    nonzero = [s for s in sigmas if s > 0.0]
    hi, lo = math.log(max(nonzero)), math.log(min(nonzero))
    out = []
    for sigma in sigmas[:-1]:
        u = 1.0 if hi == lo else (math.log(max(sigma, min(nonzero))) - hi) / (lo - hi)
        u = min(max(u, 0.0), 1.0)
        base = u if direction == "literal" else 1.0 - u
        out.append(gamma_max * base ** rho)
    return out


def step_gammas(sigmas: tuple[float, ...], settings: Settings) -> list[float]:
    """The gamma of each step for these Settings (all 0, plain attention, with DSSAG off)."""
    if not settings.dssag:
        return [0.0] * settings.steps
    return gamma_schedule(sigmas, settings.dssag_rho, settings.dssag_direction, settings.dssag_gamma_max)


def flattens(propagation_layer: bool, dssag_layers: str) -> bool:
    """Whether a spatial self-attention layer flattens its unconditional rows: SAP/TAP's four layers
    always, the others with dssag_layers 'spatial' (with 'propagation' they stay plain)."""
    return propagation_layer or dssag_layers == "spatial"


def prepare(sample: torch.Tensor, embed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Put the unconditional branch first, beside the conditional one, as one batch: the same latents
    (the LR latent kept), no image embedding."""
    return torch.cat([sample, sample]), torch.cat([torch.zeros_like(embed), embed])


def combine(denoised: torch.Tensor, guidance: float) -> torch.Tensor:
    """The guided estimate from the (unconditional, conditional) pair `prepare` batched."""
    return denoised[0] + (1.0 + guidance) * (denoised[1] - denoised[0])


def flatten_unconditional(query: torch.Tensor, key: torch.Tensor, gamma: float, branches: int,
                          frames: int) -> torch.Tensor:
    """The queries with the unconditional branch's rows (the first `frames`) flattened by gamma;
    unchanged without guidance or with gamma 0."""
    if gamma <= 0.0 or branches != 2:
        return query
    uncond = slice(0, frames)
    query = query.clone()
    query[uncond] = flatten_queries(query[uncond], key[uncond], gamma)
    return query


def flatten_queries(query: torch.Tensor, key: torch.Tensor, gamma: float) -> torch.Tensor:
    """Divide queries by max(gamma^2 q k, 1), per row and head, so that softmax(Q'K^T / sqrt(d)) is DSSAG.

    query, key: (rows, heads, tokens, head_dim). Where the factor is 1 the queries are returned unchanged.
    """
    q = query.abs().amax(dim=(2, 3), keepdim=True).float()
    k = key.abs().amax(dim=(2, 3), keepdim=True).float()
    factor = torch.clamp(gamma * gamma * q * k, min=1.0)
    return query / factor.to(query.dtype)
