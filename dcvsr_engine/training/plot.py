"""The loss curve as a PNG, drawn with PIL (no plotting library is a dependency of dcvsr)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 900, 450
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 30, 40


def moving_average(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_losses(steps: list[int], losses: list[float], path: Path, title: str = "training loss") -> None:
    """Raw per-step loss (light) and its moving average (dark); log y when it spans over a decade."""
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    draw.text((LEFT, 8), title, fill="black", font=font)
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP
    draw.rectangle([x0, y1, x1, y0], outline="black")
    finite = [(s, v) for s, v in zip(steps, losses, strict=True) if math.isfinite(v) and v > 0]
    if finite:
        xs, vs = [s for s, _ in finite], [v for _, v in finite]
        lo, hi = min(vs), max(vs)
        log = hi / lo > 10
        f = math.log10 if log else (lambda v: v)
        flo, fhi = f(lo), f(hi)
        fhi = fhi if fhi > flo else flo + 1e-12
        smin = min(xs)
        smax = max(max(xs), smin + 1)

        def point(s: float, v: float) -> tuple[float, float]:
            return (x0 + (s - smin) / (smax - smin) * (x1 - x0), y0 - (f(v) - flo) / (fhi - flo) * (y0 - y1))

        for series, colour, width in ((vs, (180, 200, 230), 1),
                                      (moving_average(vs, max(1, len(vs) // 50)), (20, 60, 160), 2)):
            pts = [point(s, v) for s, v in zip(xs, series, strict=True)]
            if len(pts) > 1:
                draw.line(pts, fill=colour, width=width)
            else:
                draw.ellipse([pts[0][0] - 2, pts[0][1] - 2, pts[0][0] + 2, pts[0][1] + 2], fill=colour)
        for k in range(5):  # y ticks
            fv = flo + (fhi - flo) * k / 4
            v = 10**fv if log else fv
            y = y0 - (y0 - y1) * k / 4
            draw.line([x0 - 4, y, x0, y], fill="black")
            draw.text((4, y - 6), f"{v:.3g}", fill="black", font=font)
        for k in range(5):  # x ticks
            s = smin + (smax - smin) * k / 4
            x = x0 + (x1 - x0) * k / 4
            draw.line([x, y0, x, y0 + 4], fill="black")
            draw.text((x - 10, y0 + 8), f"{s:.0f}", fill="black", font=font)
        draw.text((x1 - 200, 8), "step" + ("   (log loss)" if log else ""), fill="black", font=font)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    img.save(tmp, format="PNG")
    os.replace(tmp, path)
