"""The state carried from one segment to the next.

TAP's keys and values are far too large to keep (hundreds of MB per window at
1080p), so the carried state is what lets the next segment reproduce them:
the latent trajectory of the previous segment's last `context` frames (their
noisy latent at the start of every step) with their conditioning (LR latents
and image embeddings). The next segment pins those frames to that trajectory
at every step, so its first window sees exactly the frames the previous
segment denoised, and TAP selects its forward source among them.

Size: steps x context x 4 x (H/8) x (W/8) in float16, plus the context frames'
LR latents (float32) and embeddings: 25 steps x 7 frames at 1080p output
(136 x 240 latents) is about 49 MB, 50 steps about 95 MB, within the 100 MB
budget (bench/bench_sampler.py prints it). float16 halves the size at a
relative rounding of 5e-4; both ways of rendering a clip pin the context to
the same rounded values, so bit-identity is unaffected.

Serialised as safetensors (no pickle), with the chain key that produced it,
so a state is never applied to a clip, setting or model it was not made for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from dcvsr_protocol.errors import InputError
from safetensors import safe_open
from safetensors.torch import load_file, save_file

FORMAT = 1


@dataclass
class CarriedState:
    next_frame: int              # first frame of the segment this state feeds
    key: str                     # chain key: settings, model, geometry, dtype
    trajectory: torch.Tensor     # (steps, context, C, h, w) float16: latents at the start of each step
    cond_latents: torch.Tensor   # (context, C, h, w)
    image_embeds: torch.Tensor   # (context, D)

    @property
    def context(self) -> int:
        return self.trajectory.shape[1]

    def fits(self, key: str, start: int, context: int, steps: int) -> bool:
        """Whether this state feeds the segment starting at `start` that carries `context` frames, in a
        chain of this key, sampled with this many steps."""
        return (self.key == key and self.next_frame == start and self.context == context
                and self.trajectory.shape[0] == steps)

    @property
    def nbytes(self) -> int:
        tensors = (self.trajectory, self.cond_latents, self.image_embeds)
        return sum(t.numel() * t.element_size() for t in tensors)

    def save(self, path: str | Path) -> None:
        tensors = {"trajectory": self.trajectory, "cond_latents": self.cond_latents,
                   "image_embeds": self.image_embeds}
        meta = {"format": str(FORMAT), "next_frame": str(self.next_frame), "key": self.key}
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path), metadata=meta)

    @classmethod
    def load(cls, path: str | Path) -> CarriedState:
        try:
            tensors = load_file(str(path))
            with safe_open(str(path), "pt") as fh:
                meta = fh.metadata()
            if int(meta["format"]) != FORMAT:
                raise ValueError(f"format {meta['format']}")
            return cls(int(meta["next_frame"]), meta["key"], tensors["trajectory"], tensors["cond_latents"],
                       tensors["image_embeds"])
        except Exception as exc:  # safetensors raises its own error type for a bad header
            raise InputError(f"{path}: not a usable carried state ({exc})") from exc
