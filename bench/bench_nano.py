"""nano's speed at 960x540 output on this CPU, next to a small CNN upscaler measured in the same run.

1. `--quality preview` (nano's preview preset: 1 step, no guidance, one tile per frame):
   output frames per second for a clip of --frames frames at x2 (480x270 -> 960x540) and x4
   (240x135 -> 960x540), through the same DCVSRSampler.upscale the command and the engine use,
   after one warm-up run; the UNet passes per output frame.
2. The baseline: an ESPCN/FSRCNN-sized CNN (feature 64-32-32-32 channels, pixel shuffle, random
   weights: speed only) on the same LR frames, one frame at a time: the kind of small video
   upscaler that runs a few frames a second here.
3. The ratio preview / CNN.
With --full, also nano's default quality (8 steps, guidance with DSSAG, SAP over 256-pixel tiles)
on fewer frames. With --unets, the architecture choice instead: seconds per frame of one UNet pass
over a 6-frame window at 960x544 for nano's UNet and the candidates it was chosen from (random
weights; the latent factor sets the latent size and channels).

    python bench/bench_nano.py [--frames 16] [--threads 2] [--model nano] [--full] [--unets]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "client")]


from dcvsr_engine.model import load_model  # noqa: E402
from dcvsr_engine.model.nano import nano_unet_config  # noqa: E402
from dcvsr_engine.sampler.pipeline import DCVSRSampler  # noqa: E402

OUT_W, OUT_H = 960, 540


def moving_clip(frames: int, height: int, width: int) -> list[np.ndarray]:
    """A textured pattern panning right: content for the UNet to work on (speed does not depend on it)."""
    rng = np.random.default_rng(0)
    base = rng.random((height, width + frames * 2, 3)).astype(np.float32)
    return [np.ascontiguousarray(base[:, 2 * f:2 * f + width]) for f in range(frames)]


def sampler_rate(model, quality: str, scale: int, frames: int) -> tuple[float, float]:
    clip = moving_clip(frames, OUT_H // scale, OUT_W // scale)
    list(DCVSRSampler.open(model, quality, scale=float(scale)).upscale(iter(clip[:4]), 4))  # warm-up
    sampler = DCVSRSampler.open(model, quality, scale=float(scale))
    started = time.perf_counter()
    out = list(sampler.upscale(iter(clip), frames))
    seconds = time.perf_counter() - started
    assert out[0].shape == (OUT_H, OUT_W, 3), out[0].shape
    return frames / seconds, sampler.passes / frames


class SmallCNN(torch.nn.Module):
    """ESPCN/FSRCNN-sized: 5x5 feature extraction, three 3x3 layers, sub-pixel convolution."""

    def __init__(self, scale: int):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 64, 5, padding=2), torch.nn.PReLU(64),
            torch.nn.Conv2d(64, 32, 3, padding=1), torch.nn.PReLU(32),
            torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.PReLU(32),
            torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.PReLU(32),
            torch.nn.Conv2d(32, 3 * scale * scale, 3, padding=1), torch.nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@torch.no_grad()
def cnn_rate(scale: int, frames: int) -> float:
    net = SmallCNN(scale).eval()
    clip = [torch.from_numpy(f).permute(2, 0, 1)[None] for f in moving_clip(frames, OUT_H // scale,
                                                                              OUT_W // scale)]
    net(clip[0])
    started = time.perf_counter()
    for x in clip:
        out = net(x).clamp(0, 1)
    seconds = time.perf_counter() - started
    assert out.shape[-2:] == (OUT_H, OUT_W)
    return frames / seconds


def candidate_unets() -> dict[str, tuple[int, dict]]:
    """name -> (latent factor, UNet config): nano's and the variations it was chosen among."""
    base = nano_unet_config()
    D, CD, U, CU = "DownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal", "UpBlockSpatioTemporal", \
        "CrossAttnUpBlockSpatioTemporal"

    def vary(factor: int, channels: list[int], down: list[str], up: list[str], heads: list[int]) -> tuple:
        latent = 3 * factor * factor
        return factor, {**base, "in_channels": 2 * latent, "out_channels": latent,
                        "block_out_channels": channels, "down_block_types": down, "up_block_types": up,
                        "num_attention_heads": heads}

    return {
        "nano: f8, 32-64-128, attention at 1/4": (8, base),
        "f8, 64-128-128, attention at 1/4": vary(8, [64, 128, 128], [D, D, CD], [CU, U, U], [2, 4, 4]),
        "f8, 64-128-128, attention at 1/2 and 1/4": vary(8, [64, 128, 128], [D, CD, CD], [CU, CU, U],
                                                          [2, 4, 4]),
        "f8, 64-128, attention at 1/2": vary(8, [64, 128], [D, CD], [CU, U], [2, 4]),
        "f4, 32-64-128, attention at 1/4": vary(4, [32, 64, 128], [D, D, CD], [CU, U, U], [1, 2, 4]),
    }


@torch.no_grad()
def unet_seconds(factor: int, config: dict, frames: int = 6) -> tuple[float, float]:
    from diffusers import UNetSpatioTemporalConditionModel

    unet = UNetSpatioTemporalConditionModel.from_config(config).eval()
    x = torch.randn(1, frames, config["in_channels"], 544 // factor, OUT_W // factor)
    embed, ids = torch.randn(1, 1, config["cross_attention_dim"]), torch.zeros(1, 3)
    unet(x, torch.tensor([1.0]), embed, ids)
    started = time.perf_counter()
    unet(x, torch.tensor([1.0]), embed, ids)
    return (time.perf_counter() - started) / frames, sum(p.numel() for p in unet.parameters()) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="nano")
    parser.add_argument("--full", action="store_true", help="also time the default quality (slow)")
    parser.add_argument("--unets", action="store_true", help="time the candidate UNets instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.unets:
        print(f"one UNet pass over 6 frames at 960x544, {args.threads} torch threads (random weights)")
        for name, (factor, config) in candidate_unets().items():
            seconds, params = unet_seconds(factor, config)
            print(f"  {name}: {seconds:.3f} s per frame, {params:.2f} M parameters")
        return 0
    model = load_model(args.model, "cpu", "fp32")
    print(f"nano speed at {OUT_W}x{OUT_H} output, {args.frames} frames, {args.threads} torch threads, "
          f"model {model.path}")
    for scale in (2, 4):
        preview, passes = sampler_rate(model, "preview", scale, args.frames)
        cnn = cnn_rate(scale, args.frames)
        print(f"  x{scale}: preview {preview:.2f} frames/s ({passes:.2f} UNet passes per frame); small CNN "
              f"{cnn:.2f} frames/s; preview / CNN = {preview / cnn:.3f}")
        if args.full:
            full, passes = sampler_rate(model, "full", scale, max(4, args.frames // 2))
            print(f"  x{scale}: full quality {full:.3f} frames/s ({passes:.2f} UNet tile passes per frame)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
