"""`dcvsr eval`: degrade ground-truth clips, upscale them every requested way, measure everything.

For each HR clip: crop it to a multiple of the scale, make the LR input (clean or realistic
degradation), run the classical baselines and each requested sampler variant on that same LR
input, and compute every metric against the ground truth. Outputs are clipped to [0, 1], as
they would be when written. The seam measure of every method uses the tile layout of the first
variant's plan for the clip's geometry (for the baselines it shows how much the content alone
varies on those lines).
"""

from __future__ import annotations

import importlib
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from dcvsr_protocol.errors import InputError, SettingsError

from ..io import VIDEO_EXTENSIONS, open_clip
from ..io.images import is_image_path
from . import metrics as M
from .baselines import BASELINES, crop_to_multiple, downscale_clean
from .temporal import ReferenceMotion, tof, warping_error

# Variant name -> Settings overrides applied on top of the model's defaults and the user's flags.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "no-sap": {"sap": False},
    "no-tap": {"tap": False},
    "no-dssag": {"dssag": False},
    "preview": {},  # the model's preview preset as `--quality preview` runs it (over the shared flags)
}
BASELINE_NAMES = {"bicubic": "LR-bicubic", "lanczos": "Lanczos"}
GROUND_TRUTH = "ground truth"
METRICS = ("psnr", "ssim", "warp_error", "warp_edges", "tof", "seam", "hf")
FULL_REFERENCE = ("psnr", "ssim", "tof")  # trivial for the ground truth itself: not reported for it
DEGRADE_MODULE = "dcvsr_engine.training.degrade"
CROP = 128  # side of the comparison crops, in output pixels (smaller frames: the whole side)

Log = Callable[[str], None]


def variant_label(name: str) -> str:
    return f"DC-VSR {name}"


def parse_variants(text: str) -> list[str]:
    """'default,no-sap' -> ['default', 'no-sap']; 'none' or '' -> [] (baselines only)."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    if names == ["none"]:
        return []
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SettingsError(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)} (or none)")
    return list(dict.fromkeys(names))


def find_clips(paths: Iterable[str | Path]) -> list[Path]:
    """Each path is a clip (video file, image folder, single image) or a folder of clips (video
    files and image folders directly inside it, in name order)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_dir() and not any(is_image_path(p) and p.is_file() for p in path.iterdir()):
            members = sorted(p for p in path.iterdir() if not p.name.startswith(".") and (
                (p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
                or (p.is_dir() and any(is_image_path(q) for q in p.iterdir()))))
            if not members:
                raise InputError(f"{path}: holds no images, video files or image folders")
            found.extend(members)
        else:
            found.append(path)
    return found


def load_frames(path: Path, max_frames: int | None = None) -> np.ndarray:
    clip = open_clip(path)
    stop = clip.num_frames if max_frames is None else min(max_frames, clip.num_frames)
    return np.stack(list(clip.frames(0, stop)))


def degrade_function(degrade: str) -> Callable[[np.ndarray, int, int], np.ndarray] | None:
    """None for clean; for realistic, fn(gt, scale, seed) built on dcvsr_engine/training/degrade.py's
    `degrade(hr, config, scale, rng)` with its "realistic" preset, or an InputError when that module
    is not there."""
    if degrade == "clean":
        return None
    if degrade != "realistic":
        raise SettingsError(f"degradation must be clean or realistic, got {degrade!r}")
    try:
        module = importlib.import_module(DEGRADE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name and DEGRADE_MODULE.startswith(exc.name):
            raise InputError("realistic degradation needs dcvsr_engine/training/degrade.py, which this "
                             "installation does not have; use --degrade clean") from None
        raise
    run, config = getattr(module, "degrade", None), getattr(module, "degradation_config", None)
    if run is None or config is None:
        raise InputError(f"{DEGRADE_MODULE} has no degrade(hr, config, scale, rng) and "
                         "degradation_config(name); use --degrade clean")
    preset = config("realistic")

    def realistic(gt: np.ndarray, scale: int, seed: int) -> np.ndarray:
        import torch

        hr = torch.from_numpy(np.ascontiguousarray(gt)).permute(0, 3, 1, 2)
        lr = run(hr, preset, float(scale), np.random.default_rng(seed))
        return lr.permute(0, 2, 3, 1).numpy()

    return realistic


def make_lr(gt: np.ndarray, scale: int, degrade: str, seed: int = 0) -> np.ndarray:
    """The LR input of a ground-truth clip (T, H, W, 3) whose sides are multiples of `scale`.

    clean: antialiased bicubic downscale (baselines.downscale_clean; the same as the training
    module's "clean" preset). realistic: dcvsr_engine/training/degrade.py's "realistic" preset,
    its random draw seeded by `seed` (one draw per clip).
    """
    fn = degrade_function(degrade)
    if fn is None:
        return downscale_clean(gt, scale)
    lr = np.asarray(fn(gt, scale, seed), dtype=np.float32)
    want = (gt.shape[0], gt.shape[1] // scale, gt.shape[2] // scale, 3)
    if lr.shape != want:
        raise InputError(f"{DEGRADE_MODULE} returned an LR clip of shape {lr.shape}, expected {want}")
    return np.clip(lr, 0.0, 1.0)


@dataclass
class Method:
    """One way of upscaling: `run(lr)` -> (T, H, W, 3); `borders(lr_h, lr_w)` -> tile borders and
    `edges(frames)` -> window-edge frame pairs, or None."""

    name: str
    run: Callable[[np.ndarray], np.ndarray]
    borders: Callable[[int, int], tuple[list[int], list[int]]] | None = None
    edges: Callable[[int], list[int]] | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def baseline_methods(scale: int) -> list[Method]:
    return [Method(BASELINE_NAMES[key], lambda lr, fn=fn: fn(lr, scale)) for key, fn in BASELINES.items()]


def sampler_methods(model, variants: Sequence[str], overrides: dict[str, Any], scale: int) -> list[Method]:
    """One Method per variant: the DC-VSR sampler with the variant's settings overrides."""
    from ..sampler.pipeline import DCVSRSampler

    methods = []
    for name in variants:
        variant = model.defaults("preview") if name == "preview" else VARIANTS[name]
        sampler = DCVSRSampler.open(model, **{**overrides, **variant, "scale": float(scale)})
        settings = sampler.settings

        def run(lr: np.ndarray, sampler=sampler) -> np.ndarray:
            return np.stack(list(sampler.upscale(iter(lr), lr.shape[0])))

        def borders(lr_h: int, lr_w: int, sampler=sampler) -> tuple[list[int], list[int]]:
            geo = sampler.plan.geometry(lr_h, lr_w)
            return M.tile_borders(sampler.plan.spatial_grid(geo), geo.vae_factor, geo.out_h, geo.out_w)

        methods.append(Method(variant_label(name), run, borders, lambda n, p=sampler.plan: window_edges(p, n),
                              settings.to_dict()))
    return methods


def window_edges(plan, frames: int) -> list[int]:
    """The frame pairs (t, t+1), as t, across which the set of windows covering a frame changes: where
    windows (and segments) meet, which is where TAP's propagation has to keep the clip consistent."""
    cover: list[set[tuple[int, int]]] = [set() for _ in range(frames)]
    for seg in plan.segments(frames):
        offset = seg.start - seg.context
        for win in plan.temporal_grid(seg.context + seg.frames).windows:
            first, stop = max(win.start + offset, seg.start), min(win.start + win.length + offset, seg.stop)
            for f in range(first, stop):
                cover[f].add((seg.index, win.index))
    return [t for t in range(frames - 1) if cover[t] != cover[t + 1]]


def plan_layout(overrides: dict[str, Any], scale: int) -> Method:
    """Tile borders and window edges from a model-less plan (default VAE factor 8, UNet multiple 8), for
    baseline-only runs (its `run` is not used)."""
    from dcvsr_protocol.settings import Settings

    from ..sampler.plan import Plan

    plan = Plan(Settings.for_model(None, **{**overrides, "scale": float(scale)}))

    def borders(lr_h: int, lr_w: int) -> tuple[list[int], list[int]]:
        geo = plan.geometry(lr_h, lr_w)
        return M.tile_borders(plan.spatial_grid(geo), geo.vae_factor, geo.out_h, geo.out_w)

    return Method("plan", lambda lr: lr, borders, lambda n: window_edges(plan, n))


def measure(output: np.ndarray, gt: np.ndarray, motion: ReferenceMotion, borders, edges: list[int],
            scale: int, full_reference: bool = True) -> dict[str, float | None]:
    """Every metric of one method's output on one clip (means over frames / frame pairs)."""
    rows, cols = borders
    result: dict[str, float | None] = {
        "psnr": M.clip_mean(M.psnr, output, gt) if full_reference else None,
        "ssim": M.clip_mean(M.ssim, output, gt) if full_reference else None,
        "warp_error": warping_error(output, motion),
        "warp_edges": warping_error(output, motion, edges) if edges else math.nan,
        "tof": tof(output, motion) if full_reference else None,
        "seam": M.seam_ratio(output, rows, cols),
        "hf": float(np.mean([M.hf_energy(f, 0.5 / scale) for f in output])),
    }
    return result


def pick_crop(frame: np.ndarray, side: int) -> tuple[int, int]:
    """Top-left (y, x) of the side x side window with the most luma gradient energy (half-side steps)."""
    y = M.luma(frame)
    h, w = y.shape
    energy = np.zeros_like(y)
    energy[:, :-1] += np.diff(y, axis=1) ** 2
    energy[:-1, :] += np.diff(y, axis=0) ** 2
    step = max(side // 2, 1)
    best, where = -1.0, (0, 0)
    for top in sorted({*range(0, h - side + 1, step), h - side}):
        for left in sorted({*range(0, w - side + 1, step), w - side}):
            e = float(energy[top:top + side, left:left + side].sum())
            if e > best:
                best, where = e, (top, left)
    return where


@dataclass
class ClipResult:
    name: str
    path: str
    width: int
    height: int
    frames: int
    metrics: dict[str, dict[str, float | None]]  # method -> metric -> value
    seconds: dict[str, float]  # method -> seconds to upscale the clip
    crops: dict[str, np.ndarray]  # method (and ground truth) -> (side, side, 3) crop
    crop_at: tuple[int, int, int, int]  # frame, y, x, side
    seam_lines: tuple[int, int]  # tile border rows, columns


@dataclass
class EvalReport:
    scale: int
    degrade: str
    model: str | None
    methods: list[str]
    clips: list[ClipResult]
    settings: dict[str, dict[str, Any]]  # variant method -> its full settings
    notes: list[str]

    def mean(self) -> dict[str, dict[str, float | None]]:
        """Per method and metric, the mean over clips (NaN values skipped; inf stays inf)."""
        out: dict[str, dict[str, float | None]] = {}
        for method in [*self.methods, GROUND_TRUTH]:
            out[method] = {}
            for metric in METRICS:
                values = [c.metrics[method][metric] for c in self.clips]
                if any(v is None for v in values):
                    out[method][metric] = None
                    continue
                finite = [v for v in values if not math.isnan(v)]
                out[method][metric] = float(np.mean(finite)) if finite else math.nan
        return out


def evaluate_clip(name: str, path: Path, gt: np.ndarray, scale: int, degrade: str, methods: Sequence[Method],
                  layout: Method, seed: int = 0, log: Log | None = None) -> ClipResult:
    """`layout` gives the tile borders and window edges every method is measured on."""
    gt = crop_to_multiple(gt, scale)
    t, h, w = gt.shape[:3]
    lr = make_lr(gt, scale, degrade, seed)
    lines = layout.borders(h // scale, w // scale)
    edges = layout.edges(t)
    motion = ReferenceMotion.of(gt)
    side = min(CROP, h, w)
    frame = t // 2
    top, left = pick_crop(gt[frame], side)
    crop = (slice(top, top + side), slice(left, left + side))
    result = ClipResult(name, str(path), w, h, t, {}, {}, {}, (frame, top, left, side),
                        (len(lines[0]), len(lines[1])))
    for method in methods:
        started = time.monotonic()
        out = np.clip(method.run(lr), 0.0, 1.0).astype(np.float32)
        result.seconds[method.name] = time.monotonic() - started
        if out.shape != gt.shape:
            raise RuntimeError(f"{method.name} returned {out.shape}, expected {gt.shape}")
        result.metrics[method.name] = measure(out, gt, motion, lines, edges, scale)
        result.crops[method.name] = out[frame][crop]
        if log:
            m = result.metrics[method.name]
            log(f"{name}: {method.name}: PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.4f} "
                f"({result.seconds[method.name]:.1f} s)")
    result.metrics[GROUND_TRUTH] = measure(gt, gt, motion, lines, edges, scale, full_reference=False)
    result.crops[GROUND_TRUTH] = gt[frame][crop]
    return result


def evaluate(paths: Iterable[str | Path], scale: int = 4, degrade: str = "clean", model=None,
             variants: Sequence[str] = ("default",), overrides: dict[str, Any] | None = None,
             max_frames: int | None = None, log: Log | None = None) -> EvalReport:
    """Evaluate every clip of `paths` (see find_clips); `model` is a loaded DCVSRModel (needed
    when `variants` is not empty); `overrides` are Settings overrides shared by every variant."""
    if scale != int(scale) or scale < 1:
        raise SettingsError(f"eval needs a whole-number scale of at least 1, got {scale}")
    scale = int(scale)
    overrides = {k: v for k, v in (overrides or {}).items() if k != "scale"}
    seed = int(overrides.get("seed", 0))
    clips = find_clips(paths)
    notes = []
    if variants and model is None:
        raise SettingsError("sampler variants need a model")
    methods = baseline_methods(scale)
    if variants:
        sampled = sampler_methods(model, variants, overrides, scale)
        methods += sampled
        layout = sampled[0]
        if model.info.get("name") == "tiny":
            notes.append("The tiny model is random: its numbers only show that the pipeline runs.")
    else:
        layout = plan_layout(overrides, scale)
        notes.append("No sampler variant was run; seam lines come from a model-less plan (default tiles).")
    results = []
    names: dict[str, int] = {}
    for path in clips:
        name = path.name
        names[name] = names.get(name, 0) + 1
        if names[name] > 1:
            name = f"{name} ({names[name]})"
        gt = load_frames(path, max_frames)
        if gt.shape[1] < scale * 8 or gt.shape[2] < scale * 8:
            raise InputError(f"{path}: {gt.shape[2]}x{gt.shape[1]} is too small for scale {scale} "
                             f"(the LR input needs at least 8 pixels per side)")
        if log:
            log(f"{name}: {gt.shape[2]}x{gt.shape[1]}, {gt.shape[0]} frames")
        clip_seed = seed * 1_000_003 + len(results)  # one degradation draw per clip, reproducible
        results.append(evaluate_clip(name, path, gt, scale, degrade, methods, layout, clip_seed, log))
    if any(c.seam_lines == (0, 0) for c in results):
        notes.append("Seam ratio is n/a where the output is a single tile (no tile borders).")
    return EvalReport(scale, degrade, str(model.path) if model is not None else None,
                      [m.name for m in methods], results, {m.name: m.settings for m in methods if m.settings},
                      notes)


def stderr_log(message: str) -> None:
    print(f"dcvsr eval: {message}", file=sys.stderr)
