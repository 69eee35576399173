"""Peak memory and time to the first frame at 480p, 1080p and 2160p, x2 and x4, next to the frames' own size.

Each case runs in a child process limited with RLIMIT_AS, so a case that would not fit fails there,
not on the machine. A case first asks the engine's memory check (sampler/memory.py, fit_segments)
with the model's default settings under the allowance; when they do not fit, it runs with the
longest segment that does (what the engine and dcvsr upscale do with a default segment length), or
prints the refusal (the engine's ERROR 205 message) when none does.
Printed per case: the segment length used, the estimate, the peak resident memory above the
loaded model (VmHWM), the output frame's size (u8) and the ratio of the peak to it, and the time
to the first output frame (the first segment rendered). PRESETS keeps a CPU run short (printed
with the figures). Models: the tiny random model with its VAE, the tiny model with a
space-to-depth latent (no VAE), and nano.

    nice -n 10 python bench/bench_memory.py [--allowance 8G] [--models tiny,tiny-s2d,nano]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

SIZES = {"480p": (854, 480), "1080p": (1920, 1080), "2160p": (3840, 2160)}
SCALES = (2.0, 4.0)
NANO = Path(__file__).resolve().parents[1] / "dcvsr_engine" / "model" / "shipped" / "nano"
# What keeps a CPU run short (memory hardly depends on it, the time does): for the tiny model one step
# without guidance or SAP over 32-latent tiles that do not overlap (its UNet's first-level attention is
# quadratic in the tile: a 128-latent tile pass took 21 s on 2 loaded cores, a 32-latent one 2 s); the
# preview preset (one step, no guidance, 136-latent tiles) for nano.
_TINY = {"steps": 1, "guidance": 0.0, "sap": False, "tile_size": 32, "tile_overlap": 0.0}
PRESETS = {"tiny": {"quality": "full", "preset": _TINY},
           "tiny-s2d": {"quality": "full", "preset": _TINY},
           "nano": {"quality": "preview", "preset": {}}}


def _status_bytes(field: str, pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def one(case: dict, result: Path) -> None:
    """Run one case in this (child) process; writes its figures to `result`, the estimate before the
    render starts (what a case stopped at the timeout still reports)."""
    import numpy as np
    import torch

    from dcvsr_engine.model import load_model
    from dcvsr_engine.sampler.memory import MemoryLimitError, fit_segments, segment_memory
    from dcvsr_engine.sampler.pipeline import DCVSRSampler

    torch.set_num_threads(case["threads"])
    model = load_model(case["model"], "cpu", "fp32")
    settings = DCVSRSampler.open(model, case["quality"], scale=case["scale"], **case["preset"]).settings
    geo = DCVSRSampler(model, settings).plan.geometry(case["height"], case["width"])
    base = _status_bytes("VmRSS")
    allowed = case["allowance"] - base
    default = segment_memory(model, settings, geo)
    out = {"default_segment": settings.segment_frames, "default_need": default.total,
           "out_w": geo.out_w, "out_h": geo.out_h, "model_rss": base}
    if case["max_segment"]:
        settings = replace(settings, segment_frames=min(settings.segment_frames, case["max_segment"]))
    try:  # what the engine and dcvsr upscale do with a default segment length (sampler/memory.py)
        chosen, need = fit_segments(model, settings, geo, allowed)
    except MemoryLimitError as e:
        out["refused"] = str(e)
        result.write_text(json.dumps(out))
        return
    out.update(segment=chosen.segment_frames, need=need.total, parts=need.describe())
    result.write_text(json.dumps(out))
    # The first segment, as the engine renders it: float32 frames in, the clip's dtype (u8) out.
    sampler = DCVSRSampler(model, chosen)
    segment = sampler.plan.segments(chosen.segment_frames)[0]
    shape = (segment.frames, geo.in_h, geo.in_w, 3)
    started = time.perf_counter()
    frames = np.random.default_rng(0).random(shape, np.float32)
    rendered, _ = sampler.render_segment(segment, frames, geo,
                                         finish=lambda a: (a * 255.0 + 0.5).astype(np.uint8))
    first = rendered[0]
    out["first_frame_s"] = time.perf_counter() - started
    out["peak_above_model"] = _status_bytes("VmHWM") - base
    out["first_frame_shape"] = list(first.shape)
    result.write_text(json.dumps(out))


def run_case(case: dict, limit: int, timeout: float) -> dict:
    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.NamedTemporaryFile("r", suffix=".json") as result:
        args = [sys.executable, __file__, "--one", json.dumps(case), "--result", result.name]
        with subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              preexec_fn=limit_memory) as child:
            try:
                _, stderr = child.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                # the peak so far, read before the child is stopped, with the estimate it wrote
                peak = _status_bytes("VmHWM", child.pid)
                child.kill()
                child.communicate()
                text = Path(result.name).read_text()
                if not text:
                    return {"failed": f"over {timeout:.0f} s before the estimate"}
                out = json.loads(text)
                return {**out, "timeout": timeout, "peak_so_far": peak - out["model_rss"]}
        if child.returncode != 0:
            return {"failed": (stderr.strip().splitlines() or ["?"])[-1][:120]}
        return json.loads(Path(result.name).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allowance", default="8G", help="memory the engine may use (DCVSR_MEMORY)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="tiny,tiny-s2d,nano")
    parser.add_argument("--sizes", default="480p,1080p,2160p")
    parser.add_argument("--timeout", type=float, default=420)
    parser.add_argument("--max-segment", type=int, default=0,
                        help="cap the segment (frames rendered before the first is out) to keep a run short")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(json.loads(args.one), Path(args.result))
        return

    from dcvsr_engine.model import make_tiny
    from dcvsr_engine.sizes import parse_size

    allowance = parse_size(args.allowance)
    limit = allowance + (4 << 30)  # address space: the allowance plus what libraries map
    gib, mib = 2 ** 30, 2 ** 20
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"tiny": lambda: make_tiny(Path(tmp) / "tiny"),
                 "tiny-s2d": lambda: make_tiny(Path(tmp) / "tiny-s2d", latent="space_to_depth"),
                 "nano": lambda: NANO}
        print(f"allowance {allowance / gib:.1f} GiB (RLIMIT_AS {limit / gib:.1f} GiB per case), "
              f"{args.threads} torch threads; settings {PRESETS}; peak = VmHWM above the loaded model; the "
              f"first frame needs the first segment rendered; a case over {args.timeout:.0f} s is stopped"
              + (f"; segments capped at {args.max_segment} frames" if args.max_segment else ""))
        print(f"{'model':9} {'source':>10} {'x':>2} {'output':>11} {'out frame':>10} {'segment':>15} "
              f"{'estimate':>9} {'peak':>9} {'peak/frame':>10} {'1st frame':>10}")
        for name in args.models.split(","):
            model = str(paths[name]())
            for size in args.sizes.split(","):
                width, height = SIZES[size]
                for scale in SCALES:
                    case = {"model": model, "width": width, "height": height, "scale": scale,
                            "threads": args.threads, "allowance": allowance, "max_segment": args.max_segment,
                            **PRESETS[name]}
                    r = run_case(case, limit, args.timeout)
                    label = f"{name:9} {f'{width}x{height}':>10} {scale:>2.0f}"
                    if "failed" in r:
                        print(f"{label} failed: {r['failed']}")
                        continue
                    frame = r["out_w"] * r["out_h"] * 3
                    output = f"{r['out_w']}x{r['out_h']}"
                    if "refused" in r:
                        print(f"{label} {output:>11} {frame / mib:>7.0f} MB  refused (ERROR 205): "
                              f"{r['refused']}")
                        continue
                    seg = (f"{r['segment']}" if r["segment"] == r["default_segment"]
                           else f"{r['segment']} (dflt {r['default_segment']})")
                    need = r["need"] / gib
                    head = f"{label} {output:>11} {frame / mib:>7.0f} MB {seg:>15} {need:>6.2f} GiB"
                    if "timeout" in r:  # stopped: the peak it had reached
                        peak = r["peak_so_far"]
                        print(f"{head} {peak / gib:>5.2f} GiB {peak / frame:>9.1f}x  over "
                              f"{r['timeout']:.0f} s (peak so far)", flush=True)
                        continue
                    peak = r["peak_above_model"]
                    print(f"{head} {peak / gib:>5.2f} GiB {peak / frame:>9.1f}x {r['first_frame_s']:>8.1f} s",
                          flush=True)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
