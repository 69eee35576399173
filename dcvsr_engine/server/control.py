"""What the `dcvsr serve`, `dcvsr status` and `dcvsr stop` commands do, as functions."""

from __future__ import annotations

import functools
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dcvsr_client import Client, EngineStartError
from dcvsr_client.autostart import DEFAULT_START_TIMEOUT, start_engine
from dcvsr_client.client import wait_gone
from dcvsr_protocol.paths import runtime_dir as default_runtime_dir

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


def _directory(socket_path: str | os.PathLike | None, runtime_dir: str | os.PathLike | None) -> Path:
    if runtime_dir is not None:
        path = Path(runtime_dir)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path
    if socket_path is not None:
        return Path(socket_path).parent
    return default_runtime_dir()


def serve(socket_path: str | os.PathLike | None = None, renderer_factory: str | RendererFactory | None = None,
          *, runtime_dir: str | os.PathLike | None = None, detach: bool = False,
          start_timeout: float = DEFAULT_START_TIMEOUT, model: str | None = None,
          **engine_options: Any) -> int:
    """Run an engine until it is stopped (returns 0), or with detach=True start one in the
    background and return its pid (0 if one was running already).

    renderer_factory: a callable returning a Renderer, or 'module:attribute' (needed to detach);
    default DCVSR_RENDERER, else DEFAULT_RENDERER. model: the renderer's default model, passed to
    the factory as model=... (the DC-VSR renderer preloads it).
    """
    directory = _directory(socket_path, runtime_dir)
    spec = renderer_factory or os.environ.get("DCVSR_RENDERER") or DEFAULT_RENDERER
    if detach:
        if not isinstance(spec, str):
            raise TypeError("a detached engine needs its renderer as a 'module:attribute' string")
        cmd = [sys.executable, "-m", "dcvsr_engine.server", "serve", "--runtime-dir", os.fspath(directory),
               "--renderer", spec]
        if socket_path is not None:
            cmd += ["--socket", os.fspath(socket_path)]
        if model is not None:
            cmd += ["--model", model]
        return start_engine(directory, start_timeout, command=cmd) or 0
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sock = Path(socket_path) if socket_path else None
    factory = load_factory(spec)
    if model is not None:
        factory = functools.partial(factory, model=model)
    engine = Engine(directory, factory, sock, **engine_options)
    engine.start()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_: engine.request_shutdown())
    engine.serve_forever()
    return 0


def status(runtime_dir: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The running engine's status, or None if none runs (never starts one)."""
    try:
        with Client.connect(runtime_dir, autostart=False, timeout=10) as client:
            return client.status()
    except EngineStartError:
        return None


def stop(runtime_dir: str | os.PathLike | None = None, timeout: float = 10.0) -> bool:
    """Stop the running engine; False if none was running."""
    try:
        client = Client.connect(runtime_dir, autostart=False, timeout=10)
    except EngineStartError:
        return False
    directory = client.directory
    client.stop()
    return wait_gone(directory, timeout)
