"""The evaluation report: a Markdown table, a PNG of crops side by side, and the numbers as JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .runner import GROUND_TRUTH, METRICS, EvalReport

COLUMNS = {
    "psnr": "PSNR-Y (dB) ↑",
    "ssim": "SSIM-Y ↑",
    "warp_error": "Warp err ×1e-3 ↓",
    "warp_edges": "at window edges ×1e-3 ↓",
    "tof": "tOF (px) ↓",
    "seam": "Seam ratio (1 = none)",
    "hf": "HF energy",
}
DEFINITIONS = """\
- PSNR-Y, SSIM-Y: on BT.709 luma of the [0, 1] R'G'B' output (Y = 0.2126 R + 0.7152 G + 0.0722 B),
  per frame, then the mean over frames. SSIM: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03,
  mean over positions where the window is inside the frame (as skimage with gaussian_weights=True,
  use_sample_covariance=False, data_range=1).
- Warp err: mean over frame pairs of the masked mean squared RGB difference between output frame t and
  output frame t+1 warped back to t along the ground truth's DIS optical flow; pixels failing the
  forward-backward consistency check or flowing out of the frame are masked out. "At window edges": the
  same over only the pairs across which the set of sampler windows covering a frame changes (where
  windows and segments meet: what TAP has to keep consistent); n/a = a single window.
- tOF: mean end-point distance, in pixels, between the DIS flow of the output and that of the ground truth.
- Seam ratio: mean squared luma difference across the sampler's spatial tile borders (within 2 px)
  over the same away from them; 1.0 = no visible seams, n/a = a single tile.
- HF energy: share of the luma's spectral energy (Hann-windowed FFT) above the LR input's Nyquist
  frequency (0.5 / scale cycles per output pixel): detail the upscaler had to generate.
"""


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if metric == "psnr":
        return f"{value:.2f}"
    if metric in ("warp_error", "warp_edges"):
        return f"{value * 1e3:.3f}"
    if metric in ("ssim", "hf"):
        return f"{value:.4f}"
    return f"{value:.3f}"


def table(rows: dict[str, dict[str, float | None]], methods: list[str]) -> str:
    head = "| Method | " + " | ".join(COLUMNS[m] for m in METRICS) + " |"
    rule = "|---|" + "---:|" * len(METRICS)
    lines = [head, rule]
    for method in [*methods, GROUND_TRUTH]:
        lines.append(f"| {method} | " + " | ".join(_fmt(m, rows[method][m]) for m in METRICS) + " |")
    return "\n".join(lines)


def markdown(report: EvalReport) -> str:
    n = len(report.clips)
    parts = [
        "# dcvsr eval",
        "",
        f"Scale ×{report.scale}, {report.degrade} degradation, {n} clip{'s' * (n != 1)}, "
        f"model {report.model or '(none)'}.",
        "",
    ]
    parts += [f"> {note}" for note in report.notes]
    if report.notes:
        parts.append("")
    parts += [f"## Mean over {n} clip{'s' * (n != 1)}", "", table(report.mean(), report.methods), ""]
    for clip in report.clips:
        frame, top, left, side = clip.crop_at
        parts += [f"## {clip.name}", "",
                  f"{clip.width}x{clip.height}, {clip.frames} frames ({clip.path}); "
                  f"crop {side}x{side} at ({left}, {top}) of frame {frame}.", "",
                  table(clip.metrics, report.methods), "",
                  "Seconds to upscale: " + ", ".join(f"{m} {s:.1f}" for m, s in clip.seconds.items()), ""]
    parts += ["## Definitions", "", DEFINITIONS]
    return "\n".join(parts)


def _json_value(value):
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def as_json(report: EvalReport) -> dict:
    return _json_value({
        "scale": report.scale, "degrade": report.degrade, "model": report.model, "methods": report.methods,
        "notes": report.notes, "settings": report.settings, "mean": report.mean(),
        "clips": [{"name": c.name, "path": c.path, "width": c.width, "height": c.height, "frames": c.frames,
                   "metrics": c.metrics, "seconds": c.seconds, "crop": list(c.crop_at),
                   "tile_border_lines": list(c.seam_lines)} for c in report.clips],
    })


def _to_u8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def crops_image(report: EvalReport, min_side: int = 128, pad: int = 6) -> Image.Image:
    """One row per clip, one column per method then the ground truth; crops smaller than `min_side`
    are enlarged by pixel repetition (whole factors) so that they can be seen."""
    font = ImageFont.load_default()
    columns = [*report.methods, GROUND_TRUTH]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_size(text: str) -> tuple[int, int]:
        box = measure.textbbox((0, 0), text, font=font)
        return int(box[2] - box[0]), int(box[3] - box[1])

    label_h = max(text_size(c)[1] for c in columns + [c.name for c in report.clips]) + 4
    rows = []
    for clip in report.clips:
        side = clip.crop_at[3]
        factor = max(1, -(-min_side // side))
        cells = [(name, _to_u8(clip.crops[name]).repeat(factor, 0).repeat(factor, 1)) for name in columns]
        cell_w = max(max(text_size(name)[0] for name, _ in cells), side * factor)
        width = len(cells) * (cell_w + pad) + pad
        height = label_h + side * factor + label_h + pad
        row = Image.new("RGB", (width, height), (32, 32, 32))
        draw = ImageDraw.Draw(row)
        draw.text((pad, 2), f"{clip.name}: frame {clip.crop_at[0]}", fill=(230, 230, 230), font=font)
        for i, (name, pixels) in enumerate(cells):
            x = pad + i * (cell_w + pad)
            row.paste(Image.fromarray(pixels), (x, label_h))
            draw.text((x, label_h + side * factor + 2), name, fill=(230, 230, 230), font=font)
        rows.append(row)
    out = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), (32, 32, 32))
    y = 0
    for row in rows:
        out.paste(row, (0, y))
        y += row.height
    return out


def write_report(report: EvalReport, folder: str | Path) -> dict[str, Path]:
    """Write report.md, crops.png and results.json into `folder` (created); returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": folder / "report.md", "png": folder / "crops.png", "json": folder / "results.json"}
    paths["markdown"].write_text(markdown(report), encoding="utf-8")
    crops_image(report).save(paths["png"])
    paths["json"].write_text(json.dumps(as_json(report), indent=2) + "\n", encoding="utf-8")
    return paths
