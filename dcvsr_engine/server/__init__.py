"""The frame server: sessions, slots and scheduling around a Renderer (see renderer.py).

Importing this imports neither torch nor the model; the renderer factory does that.
"""

from .control import DEFAULT_RENDERER, serve
from .noop import NoOpRenderer
from .renderer import ClipSpec, Renderer, RenderSession, RequestAborted

__all__ = [
    "DEFAULT_RENDERER", "ClipSpec", "NoOpRenderer", "RenderSession", "Renderer",
    "RequestAborted",
    "serve",
]
