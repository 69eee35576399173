"""The install, uninstall and doctor subcommands of `dcvsr` (their work is imported when they run)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HOSTS_HELP = ("comma-separated hosts: ofx (the OpenFX bundle), vapoursynth (the plugin, into the Python "
              "VapourSynth uses), service (the engine started at login); default ofx,vapoursynth where "
              "present (named hosts are required, not skipped)")


def _scope_arguments(p: argparse.ArgumentParser) -> None:
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--user", dest="scope", action="store_const", const="user",
                       help="for you only, in your home folder (the default)")
    scope.add_argument("--system", dest="scope", action="store_const", const="system",
                       help="for every user, in the platform's folders (needs administrator rights)")
    p.set_defaults(scope="user")
    p.add_argument("--prefix", type=Path, metavar="DIR",
                   help="a fake root: write everything under DIR (changes no settings, starts nothing)")
    p.add_argument("--platform", choices=("linux", "macos", "windows"),
                   help="lay out for this platform (another platform's only with --prefix)")
    p.add_argument("--dry-run", action="store_true", help="say what would be done; change nothing")


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("install", help="install the host plugins, the engine command and the service",
                              description="Install dcvsr for its hosts: the OpenFX bundle into the OpenFX "
                              "folder, the VapourSynth plugin into VapourSynth's Python, optionally the "
                              "engine as a login service, and the engine command file the OpenFX bridge "
                              "reads. A manifest records every file and setting; installing again upgrades "
                              "in place.")
    p.add_argument("--hosts", help=HOSTS_HELP)
    _scope_arguments(p)
    p.add_argument("--vapoursynth-python", metavar="PYTHON",
                   help="the Python VapourSynth uses (default: asked of vspipe, this Python, python3)")
    p.add_argument("--ofx-bundle", type=Path, metavar="DIR",
                   help="install this built DCVSR.ofx.bundle instead of the one in the package")
    p.set_defaults(func=_install)

    p = subparsers.add_parser("uninstall", help="remove what `dcvsr install` wrote (models and cache stay)",
                              description="Remove exactly what the install manifest lists and undo its "
                              "settings (the service). The model folder and the render cache stay unless "
                              "--purge.")
    p.add_argument("--purge", action="store_true", help="also remove the model folder and the render cache")
    _scope_arguments(p)
    p.set_defaults(func=_uninstall)

    p = subparsers.add_parser("doctor", help="say what is installed where, what works, and what to fix")
    p.add_argument("--json", action="store_true", help="the report as JSON, for scripts")
    p.add_argument("--vapoursynth-python", metavar="PYTHON", help="check this Python's VapourSynth")
    p.set_defaults(func=_doctor)


def _say(line: str) -> None:
    print(line, flush=True)


def _layout(args: argparse.Namespace):
    from .layout import Layout

    return Layout.current(args.scope, args.prefix, args.platform)


def _install(args: argparse.Namespace) -> int:
    from dcvsr_engine import __version__

    from .install import install
    from .ofx import packaged_bundle

    bundle = args.ofx_bundle if args.ofx_bundle is not None else packaged_bundle()
    return install(_layout(args), args.hosts, bundle, args.vapoursynth_python, args.dry_run, __version__,
                   _say)


def _uninstall(args: argparse.Namespace) -> int:
    from .install import remove

    return remove(_layout(args), args.purge, args.dry_run, _say)


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import diagnose, render

    report = diagnose(args.vapoursynth_python)
    if args.json:
        import json

        print(json.dumps(report, indent=2))
    else:
        sys.stdout.write(render(report))
    return 1 if report["problems"] else 0
