"""vsdcvsr: DC-VSR video super-resolution for VapourSynth, rendered by the dcvsr engine.

    import vapoursynth as vs
    import vsdcvsr
    clip = vsdcvsr.upscale(clip, 4, steps=25, seed=0)

The engine (one per machine, started on first use unless DCVSR_AUTOSTART=0) owns the model and the
GPU; this package imports no torch. `python -m vsdcvsr` checks the installation. See README.md.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "upscale"]


def __getattr__(name: str) -> Any:
    # upscale lives with the VapourSynth graph code; importing it imports vapoursynth, which
    # `python -m vsdcvsr` must be able to report missing.
    if name == "upscale":
        from .filter import upscale

        return upscale
    raise AttributeError(f"module 'vsdcvsr' has no attribute {name!r}")
