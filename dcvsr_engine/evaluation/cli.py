"""The `dcvsr eval` subcommand body (its arguments are declared in dcvsr_engine/cli.py)."""

from __future__ import annotations

import argparse
import sys

from dcvsr_protocol.errors import SettingsError
from dcvsr_protocol.settings import overrides_from_args

from .report import markdown, write_report
from .runner import degrade_function, evaluate, find_clips, parse_variants, stderr_log

DEFAULT_SCALE = 4


def run(args: argparse.Namespace) -> int:
    variants = parse_variants(args.variants)
    overrides = overrides_from_args(args)
    scale = overrides.pop("scale", DEFAULT_SCALE)
    # Missing inputs and an unavailable degradation fail before torch and the model are loaded.
    find_clips(args.hr)
    if scale != int(scale) or scale < 1:
        raise SettingsError(f"eval needs a whole-number --scale of at least 1, got {scale}")
    if args.frames is not None and args.frames < 2:
        raise SettingsError("--frames must be at least 2 (the temporal metrics need frame pairs)")
    degrade_function(args.degrade)
    if args.threads:
        import cv2
        import torch

        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    model = None
    if variants:
        from ..model import load_model

        model = load_model(args.model, args.device, args.dtype)
    report = evaluate(args.hr, scale, args.degrade, model, variants, overrides, args.frames, stderr_log)
    paths = write_report(report, args.report)
    print(markdown(report))
    print(f"dcvsr eval: wrote {paths['markdown']}, {paths['png']} and {paths['json']}", file=sys.stderr)
    return 0
