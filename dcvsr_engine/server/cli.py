"""The serve / status / stop subcommands, for `dcvsr` and `python -m dcvsr_engine.server`.

A front end, and the one module of the engine that is also a client: `serve --detach`, `status` and
`stop` talk to an engine through dcvsr_client.control (docs/architecture.md).
"""

from __future__ import annotations

import argparse
import json
import sys

from dcvsr_client import control as client_control

from . import control
from .engine import EngineRunning


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Add serve, status and stop to a CLI; each sets `func(args) -> exit status`."""
    p = subparsers.add_parser("serve", help="run the frame-server engine (foreground unless --detach)")
    p.add_argument("--runtime-dir", help="private folder for the socket and token (default: "
                                         "DCVSR_RUNTIME_DIR, $XDG_RUNTIME_DIR/dcvsr or /tmp/dcvsr-UID)")
    p.add_argument("--socket", help="socket path (default: engine.sock in the runtime folder)")
    p.add_argument("--renderer", help=f"renderer factory as module:attribute (default: DCVSR_RENDERER or "
                                      f"{control.DEFAULT_RENDERER})")
    p.add_argument("--model", help="the DC-VSR renderer's default model, loaded at start: a model folder or "
                                   "an installed name (default: DCVSR_MODEL, else the installed dc-vsr); "
                                   "sessions may name another in their settings")
    p.add_argument("--detach", action="store_true", help="start in the background and return")
    p.set_defaults(func=_serve)
    for name, func, text in (("status", _status, "show the running engine's status"),
                             ("stop", _stop, "stop the running engine")):
        p = subparsers.add_parser(name, help=text)
        p.add_argument("--runtime-dir")
        p.set_defaults(func=func)


def _serve(args: argparse.Namespace) -> int:
    if args.detach:
        pid = client_control.serve_detached(args.renderer or control.renderer_name(), socket=args.socket,
                                            runtime_dir=args.runtime_dir, model=args.model)
        print(f"engine started (pid {pid})" if pid else "an engine was already running")
        return 0
    try:
        return control.serve(args.socket, args.renderer, runtime_dir=args.runtime_dir, model=args.model)
    except EngineRunning as e:
        print(f"dcvsr: {e}", file=sys.stderr)
        return 1


def _status(args: argparse.Namespace) -> int:
    info = client_control.status(args.runtime_dir)
    if info is None:
        print("no engine is running")
        return 1
    print(json.dumps(info, indent=2))
    return 0


def _stop(args: argparse.Namespace) -> int:
    if not client_control.stop(args.runtime_dir):
        print("no engine is running")
        return 1
    print("engine stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dcvsr_engine.server", description="dcvsr frame server")
    add_parsers(parser.add_subparsers(dest="command"))
    argv = sys.argv[1:] if argv is None else argv
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["serve", *argv]  # the autostart command runs the module bare
    args = parser.parse_args(argv)
    return args.func(args)
