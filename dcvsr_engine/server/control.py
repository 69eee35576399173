"""Running an engine in this process: what `dcvsr serve` does (without --detach), as a function."""

from __future__ import annotations

import functools
import importlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dcvsr_protocol.paths import engine_dir

from .engine import Engine
from .renderer import Renderer

# The renderer an engine uses unless told otherwise (--renderer, DCVSR_RENDERER); the no-op
# renderer (NOOP_RENDERER) stays available for tests and transport benchmarks.
DEFAULT_RENDERER = "dcvsr_engine.server.dcvsr_renderer:DCVSRRenderer"
NOOP_RENDERER = "dcvsr_engine.server.noop:NoOpRenderer"

RendererFactory = Callable[[], Renderer]


def load_factory(spec: str | RendererFactory) -> RendererFactory:
    """A renderer factory from a callable or a 'module:attribute' string (a class or a function)."""
    if callable(spec):
        return spec
    module, sep, attr = spec.partition(":")
    if not sep:
        raise ValueError(f"renderer {spec!r} must be given as 'module:attribute'")
    return getattr(importlib.import_module(module), attr)


def serve(socket_path: str | os.PathLike | None = None, renderer_factory: str | RendererFactory | None = None,
          *, runtime_dir: str | os.PathLike | None = None, model: str | None = None,
          **engine_options: Any) -> int:
    """Run an engine in this process until it is stopped; returns 0. (Starting one in the
    background is dcvsr_client.control.serve_detached: a client's job.)

    renderer_factory: a callable returning a Renderer, or 'module:attribute'; default
    DCVSR_RENDERER, else DEFAULT_RENDERER. model: the renderer's default model, passed to
    the factory as model=... (the DC-VSR renderer preloads it).
    """
    directory = engine_dir(socket_path, runtime_dir)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sock = Path(socket_path) if socket_path else None
    factory = load_factory(renderer_factory or renderer_name())
    if model is not None:
        factory = functools.partial(factory, model=model)
    engine = Engine(directory, factory, sock, **engine_options)
    if threading.current_thread() is threading.main_thread():
        # Before start(): a stop that arrives as soon as the socket is up still cleans up.
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_: engine.request_shutdown())
    engine.start()
    engine.serve_forever()
    return 0


def renderer_name() -> str:
    """The renderer an engine uses when not told: DCVSR_RENDERER, else DEFAULT_RENDERER."""
    return os.environ.get("DCVSR_RENDERER") or DEFAULT_RENDERER
