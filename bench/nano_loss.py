"""What a nano checkpoint has learned, per noise level: its EDM loss next to that of a zero residual.

A zero residual latent decodes to the condition's upscale (bicubic, or the restored upscale for a
model with a restorer), so the zero residual's loss is that of a model that adds nothing to it.
On held-back clean batches (steps the run's seed never trains on) of 6 frames of 128 px, at x4
and x2, for sigma 2 (the noisy input still shows the picture: denoising), 20 and 80 (pure noise
in: the residual must come from the LR condition alone: super-resolution), or --sigmas.
With --attention, also the loss with every spatial self-attention layer's output zeroed (SAP, TAP
and DSSAG act only there): how much of what the model predicts passes through them.

    python bench/nano_loss.py CHECKPOINT [--data sources.json] [--batches 4] [--sigmas 2,20,80]
                              [--attention]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "client")]

from dcvsr_engine.attention.layers import spatial_self_attention_layers  # noqa: E402
from dcvsr_engine.training import edm  # noqa: E402
from dcvsr_engine.training.config import TrainConfig  # noqa: E402
from dcvsr_engine.training.train import Trainer  # noqa: E402

HELD_BACK = 10**6  # batch indices far beyond any run's steps


@contextlib.contextmanager
def without_spatial_attention(unet):
    """Every spatial self-attention layer outputs zeros (its residual branch adds nothing)."""
    modules = dict(unet.named_modules())
    hooks = [modules[name].register_forward_hook(lambda _m, _i, out: torch.zeros_like(out))
             for name in spatial_self_attention_layers(unet)]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data", default=str(Path.home() / ".cache/dcvsr/training-data/sources.json"))
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--sigmas", default="2,20,80")
    parser.add_argument("--attention", action="store_true", help="also without spatial self-attention")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for scale in (4.0, 2.0):
        with tempfile.TemporaryDirectory() as out:  # the Trainer writes its manifest there
            trainer = Trainer(TrainConfig(data=args.data, out=out, model=args.checkpoint, unet="finetune",
                                          crop=128, frames=6, batch=2, scale=(scale,), degradation="clean",
                                          device="cpu"), log=lambda line: None)
        trainer.unet.eval()  # from here on it reads only the data and the model
        cells = []
        for sigma in (float(v) for v in args.sigmas.split(",")):
            model = zero = blind = 0.0
            for i in range(args.batches):
                enc = trainer.encode(*trainer.batch(HELD_BACK + i))
                s = torch.full((enc.x0.shape[0],), sigma)
                noise = torch.randn(enc.x0.shape, generator=torch.Generator().manual_seed(i))
                pre = edm.preconditioning(s)
                noisy = enc.x0 + s.view(-1, 1, 1, 1, 1) * noise
                with torch.no_grad():
                    model += trainer.loss(enc, s, noise, torch.ones_like(s)).item()
                    if args.attention:
                        with without_spatial_attention(trainer.unet):
                            blind += trainer.loss(enc, s, noise, torch.ones_like(s)).item()
                # The output F that makes D = c_skip x + c_out F a zero residual.
                zero_out = -pre.c_skip * noisy / pre.c_out
                zero += ((zero_out - edm.target(enc.x0, noisy, pre)) ** 2).mean().item()
            cells.append(f"sigma {sigma:g}: {model / args.batches:.3f} vs {zero / args.batches:.3f} "
                         f"({model / zero:.3f})"
                         + (f", without attention {blind / args.batches:.3f}" if args.attention else ""))
        print(f"x{scale:g}, model vs zero residual (ratio): " + "; ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
