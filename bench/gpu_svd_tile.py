"""Seconds per 512x512x14 tile pass of a full-size SVD UNet (random weights), on a GPU.

    python bench/gpu_svd_tile.py                 # CUDA, fp16 and bf16, SVD's UNet
    python bench/gpu_svd_tile.py --config tiny   # a dry run of the script on the CPU

One pass = one UNet call on a 64x64x14 latent tile with both guidance branches
batched (what the sampler counts). Timed for plain attention, TAP's extension
(4 neighbour frames appended) and SAP's (the whole-frame tokens of a 1080p
frame, subsampled by 2, appended), so the attention overhead of propagation is
visible. Random weights suffice for timing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffusers import UNetSpatioTemporalConditionModel

from dcvsr_engine.attention import (
    SAPCall,
    SAPGather,
    SAPLayout,
    TAPCall,
    TAPFrames,
    TileCall,
    install_processors,
)
from dcvsr_engine.model.tiny import svd_unet_config, tiny_unet_config
from dcvsr_engine.sampler.tiles import SpatialGrid


def timed(fn, repeats: int, sync) -> float:
    fn()  # warm-up
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


def bench_dtype(name: str, config: dict, svd: bool, repeats: int, device: torch.device, sync) -> None:
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[name]
    tile, frames, branches = (64, 14, 2) if svd else (16, 6, 2)
    with torch.device("meta"):
        unet = UNetSpatioTemporalConditionModel.from_config(config)
    unet = unet.to_empty(device=device).to(dtype).eval()
    for p in unet.parameters():
        torch.nn.init.normal_(p, std=0.02)
    state = install_processors(unet)
    sample = torch.randn(branches, frames, 8, tile, tile, device=device, dtype=dtype)
    embeds = torch.randn(branches, 1, config["cross_attention_dim"], device=device, dtype=dtype)
    time_ids = torch.tensor([[6.0, 127.0, 0.0]] * branches, device=device, dtype=dtype)
    timestep = torch.tensor(1.0, device=device)

    def run(call: TileCall | None) -> None:
        state.call = call
        with torch.no_grad():
            unet(sample, timestep, encoder_hidden_states=embeds, added_time_ids=time_ids)
        state.call = None

    # TAP: the neighbour's selected frames, recorded by one pass.
    neighbour = TAPFrames()
    run(TileCall(frames, branches, (tile, tile), tap=TAPCall(4, record=neighbour)))
    # SAP: whole-frame tokens of a 1080p latent (136x240), gathered from all its tiles.
    grid = SpatialGrid(*((136, 240) if svd else (24, 40)), tile, 0.5, 8)
    whole = SAPGather(SAPLayout(grid, 2))
    for t in grid.tiles:
        run(TileCall(frames, branches, (tile, tile), sap=SAPCall(t, record=whole)))
    cases = {
        "plain attention": None,
        "TAP (4 neighbour frames)": TileCall(frames, branches, (tile, tile),
                                             tap=TAPCall(4, source=neighbour)),
        "SAP (whole 1080p frame / 2)": TileCall(frames, branches, (tile, tile),
                                                sap=SAPCall(grid.tiles[0], extend=whole)),
    }
    base = None
    for label, call in cases.items():
        seconds = timed(lambda call=call: run(call), repeats, sync)
        base = base or seconds
        print(f"  {name}: {label:<30} {seconds * 1000:8.1f} ms per tile pass   x{seconds / base:.2f}")
    if device.type == "cuda":
        print(f"  {name}: peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
        torch.cuda.reset_peak_memory_stats()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", choices=("svd", "tiny"), default="svd")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtypes", default="fp16,bf16")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    svd = args.config == "svd"
    config = svd_unet_config() if svd else tiny_unet_config()
    print(f"device {torch.cuda.get_device_name() if cuda else 'cpu'}, torch {torch.__version__}, "
          f"UNet {args.config}, {'64x64x14' if svd else '16x16x6'} latent tile, 2 guidance branches")
    for name in args.dtypes.split(","):
        bench_dtype(name, config, svd, args.repeats, device, sync)


if __name__ == "__main__":
    main()
