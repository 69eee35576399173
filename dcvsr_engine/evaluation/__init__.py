"""`dcvsr eval`: full-reference, temporal and seam metrics of the sampler and classical baselines.

metrics.py (PSNR, SSIM, high-frequency energy, seam ratio), temporal.py (warping error, tOF with
OpenCV's DIS flow), baselines.py (LR input, bicubic, Lanczos), runner.py (the evaluation) and
report.py (Markdown, PNG, JSON). Importing this package imports neither torch nor OpenCV.
"""

from .runner import VARIANTS, EvalReport, evaluate, parse_variants

__all__ = ["VARIANTS", "EvalReport", "evaluate", "parse_variants"]
