"""An exponential moving average of the trained UNet's parameters (what unet_ema/ holds)."""

from __future__ import annotations

import torch


class EMA:
    """shadow <- d shadow + (1 - d) param after each step, in fp32.

    With `warmup`, d = min(decay, (1 + n) / (10 + n)) after n updates (as diffusers' EMAModel),
    so a short run's EMA is not dominated by the initial weights.
    """

    def __init__(self, named_params: dict[str, torch.Tensor], decay: float, warmup: bool = True) -> None:
        self.decay, self.warmup = decay, warmup
        self.shadow = {k: v.detach().float().clone() for k, v in named_params.items()}

    def rate(self, updates: int) -> float:
        return min(self.decay, (1 + updates) / (10 + updates)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, named_params: dict[str, torch.Tensor], updates: int) -> None:
        """`updates`: how many updates were made before this one (the step index)."""
        weight = 1.0 - self.rate(updates)
        for k, v in named_params.items():
            self.shadow[k].lerp_(v.detach().float(), weight)
