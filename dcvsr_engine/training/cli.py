"""`dcvsr train`: the subcommand's flags and its entry point (torch is imported only when it runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import DEFAULT_P_MEAN, DEFAULT_P_STD, TrainConfig


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train or fine-tune a DC-VSR UNet (EDM, LR-latent conditioning)",
        description="Train the DC-VSR denoiser on clips cut from the videos and photos listed in a sources "
        "file (JSON: path, licence, origin, kind per entry; sources without a licence are refused). "
        "Checkpoints in OUT/checkpoints are model folders for `dcvsr upscale --model`.")
    p.add_argument("--data", required=True, type=Path, help="sources list (JSON)")
    p.add_argument("--out", required=True, type=Path, help="output folder (checkpoints, manifest, loss.png)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT from its latest checkpoint")
    p.add_argument("--model", help="base model folder or name: frozen VAE and image encoder, and the UNet "
                   "when fine-tuning (default: a tiny random base written to OUT/base)")
    p.add_argument("--unet", default="auto", help="finetune, tiny, small, nano, or a UNet config "
                   "JSON (default: finetune with --model, tiny without); without --model, nano trains on a "
                   "nano base (space-to-depth latents) and the others on a tiny one")
    p.add_argument("--steps", type=int, default=1000, help="total optimiser steps")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--lr", type=float,
                   help="AdamW learning rate (default 1e-5 fine-tuning, 1e-4 from scratch)")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=int, default=0, help="linear learning-rate warm-up steps")
    p.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm (0: off)")
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--crop", type=int, help="HR crop side in pixels (default: the model's tile, x8)")
    p.add_argument("--frames", type=int, help="frames per clip (default: the model's tile_frames)")
    p.add_argument("--scale", type=_scales, default=(4.0,), help="scale factor, or several separated by "
                   "commas (one drawn per step: one model for all of them), e.g. 2,4 (default 4)")
    p.add_argument("--degradation", default="realistic", help="clean, realistic, or a JSON file of "
                   "DegradeConfig fields (with an optional \"preset\")")
    p.add_argument("--p-mean", type=float, default=DEFAULT_P_MEAN, help="ln sigma mean (EDM P_mean)")
    p.add_argument("--p-std", type=float, default=DEFAULT_P_STD, help="ln sigma std (EDM P_std)")
    p.add_argument("--cond-drop", type=float, default=0.1, help="chance of training without the image "
                   "embedding (the guidance's unconditional branch)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--keep", type=int, default=2, help="checkpoints kept (0: all)")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--save-dtype", default="fp32", choices=("fp32", "fp16", "bf16"))
    p.add_argument("--name", help="the model name written to dcvsr.json")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.set_defaults(func=run)


def _scales(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        data=str(args.data), out=str(args.out), model=args.model, unet=args.unet, steps=args.steps,
        batch=args.batch, lr=args.lr, weight_decay=args.weight_decay, warmup=args.warmup,
        grad_clip=args.grad_clip, ema_decay=args.ema_decay, crop=args.crop, frames=args.frames,
        scale=args.scale, degradation=args.degradation, p_mean=args.p_mean, p_std=args.p_std,
        cond_drop=args.cond_drop, seed=args.seed, device=args.device, precision=args.precision,
        gradient_checkpointing=args.gradient_checkpointing, checkpoint_every=args.checkpoint_every,
        keep=args.keep, log_every=args.log_every, save_dtype=args.save_dtype, name=args.name)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)  # settings errors before torch is imported

    import torch

    from .train import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    trainer = Trainer(config, resume=args.resume, log=lambda line: print(line, file=sys.stderr, flush=True))
    last = trainer.run()
    print(f"dcvsr: training at step {trainer.step}; latest checkpoint {last}; loss curve "
          f"{trainer.out / 'loss.png'}", file=sys.stderr)
    return 0
