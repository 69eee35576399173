#!/usr/bin/env python3
"""Give a model a restorer: fit its filter banks on the training sources (dcvsr_engine/training/restorer.py).

    .venv/bin/python scripts/fit_restorer.py MODEL DEST [--data sources.json] [--degradation JSON]
                                             [--scale 2,4] [--crops 1000] [--seed 0]

Writes DEST: a copy of the model folder MODEL with restorer/ (one bank per `footage`: auto on the
--degradation mixture, clean, degraded on its non-clean half) and "restorer": true in dcvsr.json's
latent. The UNet is unchanged: fine-tune it on DEST (`dcvsr train --model DEST --unet finetune`),
since its condition is now the restored upscale. Built beside DEST and renamed into place.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "client")]

import torch  # noqa: E402

from dcvsr_engine.model.info import read_info, validate_info  # noqa: E402
from dcvsr_engine.model.layout import DCVSR_JSON, build_folder, resolve_model_path, write_json  # noqa: E402
from dcvsr_engine.model.restorer import FOLDER, save_restorer  # noqa: E402
from dcvsr_engine.training.degrade import degradation_config  # noqa: E402
from dcvsr_engine.training.restorer import fit_restorer, fitting_dataset  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("dest", type=Path)
    parser.add_argument("--data", type=Path, default=Path.home() / ".cache/dcvsr/training-data/sources.json")
    parser.add_argument("--degradation", default=str(ROOT / "scripts" / "nano_degradation.json"))
    parser.add_argument("--scale", default="2,4")
    parser.add_argument("--crops", type=int, default=1000, help="crops per bank and scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-scale", action="store_true", help="a set of filters per scale in each bank")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    src = resolve_model_path(args.model)
    info = read_info(src / DCVSR_JSON)
    dataset = fitting_dataset(args.data)
    scales = tuple(float(v) for v in args.scale.split(","))
    started = time.monotonic()
    restorer = fit_restorer(dataset, degradation_config(args.degradation), scales, args.crops, args.seed,
                            per_scale=args.per_scale)

    def build(work: Path) -> None:
        shutil.copytree(src, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("training", FOLDER))
        save_restorer(work / FOLDER, restorer)
        info["latent"] = {**info.get("latent", {}), "restorer": True}
        info["restorer"] = {"degradation": Path(args.degradation).name, "scales": list(scales),
                            "crops": args.crops, "seed": args.seed, "sources": len(dataset.sources),
                            "per_scale": args.per_scale}
        validate_info(info, work / DCVSR_JSON)
        write_json(work / DCVSR_JSON, info)

    build_folder(args.dest, build, "restorer")
    print(f"fit_restorer: {args.dest} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
