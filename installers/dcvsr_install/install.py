"""`dcvsr install` and `dcvsr uninstall`: build the plan for the asked hosts, refuse what cannot be done,
apply it, and check the result."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dcvsr_protocol import engine_command_file

from . import ofx, service, vapoursynth
from .errors import InstallError
from .layout import Layout
from .manifest import Manifest
from .plan import Plan, Say, apply, uninstall

HOSTS = ("ofx", "vapoursynth", "service")
DEFAULT_HOSTS = ("ofx", "vapoursynth")  # the engine starts on demand unless the service is asked for


def engine_command() -> list[str]:
    """How clients start this installation's engine: this Python running the server module."""
    return [sys.executable, "-m", "dcvsr_engine.server"]


def parse_hosts(text: str | None) -> tuple[list[str], bool]:
    """The hosts asked for, and whether they were named (named hosts are required, not skipped)."""
    if text is None:
        return list(DEFAULT_HOSTS), False
    hosts = [h.strip() for h in text.split(",") if h.strip()]
    unknown = [h for h in hosts if h not in HOSTS]
    if unknown or not hosts:
        raise InstallError(f"--hosts takes a comma-separated list of {', '.join(HOSTS)}; got {text!r}")
    return list(dict.fromkeys(hosts)), True


def _check_prefix(prefix: Path | None) -> None:
    if prefix is not None and not prefix.is_dir():
        raise InstallError(f"--prefix {prefix} does not exist (it is a fake root: create it first)")


def _other_layout(layout: Layout) -> None:
    """Refuse to install over an installation of another scope (two manifests would fight over hosts)."""
    other = Layout(layout.platform, "system" if layout.scope == "user" else "user", layout.prefix,
                   layout.home, layout.env)
    found = Manifest.read(other.manifest())
    if found is not None:
        flag = "--user" if other.scope == "user" else "--system"
        raise InstallError(f"dcvsr is already installed with another layout ({found.layout}, manifest "
                           f"{other.manifest()}); run `dcvsr uninstall {flag}` first")


def build_plan(layout: Layout, hosts: list[str], named: bool, bundle: Path | None, vs_python: str | None,
               version: str) -> tuple[Plan, vapoursynth.VapourSynthPython | None]:
    plan = Plan(layout, version)
    command = engine_command()
    plan.add_file(layout.engine_command_file(), engine_command_file.render(command).encode())
    plan.notes.append(f"engine command: {layout.engine_command_file()}")
    target = None
    for host in hosts:
        if host == "ofx":
            if not named and not ofx.present(layout):
                plan.notes.append("skipped OpenFX: no OpenFX plugin folder and no OFX_PLUGIN_PATH (no OpenFX "
                                  "host installed?); name it with --hosts ofx to install anyway")
                continue
            ofx.add(plan, bundle)
        elif host == "vapoursynth":
            if not layout.is_native():
                if named:
                    raise InstallError("the VapourSynth plugin can only be installed for this machine's "
                                       "platform (its Python is asked where to go)")
                plan.notes.append("skipped VapourSynth: another platform's layout")
                continue
            target = vapoursynth.find(vs_python)
            if target is None:
                if named:
                    raise InstallError("no Python that imports vapoursynth was found (vspipe, this Python, "
                                       "python3); install VapourSynth, or name its Python with "
                                       "--vapoursynth-python")
                plan.notes.append("skipped VapourSynth: no Python here imports vapoursynth")
                continue
            vapoursynth.add(plan, target)
        else:
            service.add(plan, command)
        plan.hosts.append(host)
    return plan, target


def install(layout: Layout, hosts_text: str | None, bundle: Path | None, vs_python: str | None,
            dry_run: bool, version: str, say: Say) -> int:
    _check_prefix(layout.prefix)
    _other_layout(layout)
    old = Manifest.read(layout.manifest())
    hosts, named = parse_hosts(hosts_text)
    plan, target = build_plan(layout, hosts, named, bundle, vs_python, version)
    action = "upgrading" if old else "installing"
    root = f", fake root {layout.prefix}" if layout.prefix else ""
    say(f"{'dry run: ' if dry_run else ''}{action} dcvsr {version} ({layout.name}{root}): "
        f"{', '.join(plan.hosts) or 'engine only'}")
    apply(plan, old, dry_run, say)
    for note in plan.notes:
        say(f"  {note}")
    if target is not None and not dry_run and layout.is_real():
        ok, report = vapoursynth.check(target)
        say(f"python -m vsdcvsr in {target.executable}:")
        say("\n".join("  " + ln for ln in report.splitlines()))
        if not ok:
            say("error: the VapourSynth plugin does not work there (above); `dcvsr doctor` says more")
            return 1
    if not dry_run:
        say(f"done; the manifest {layout.manifest()} lists what was written (`dcvsr uninstall` removes it)")
    return 0


def user_data(layout: Layout) -> list[Path]:
    """The model folder and the render cache: kept by uninstall, removed by --purge."""
    if layout.is_real():
        from dcvsr_engine.model.layout import models_dir
        from dcvsr_engine.server.frame_cache import default_directory

        cache = os.environ.get("DCVSR_CACHE_DIR")
        return [models_dir(), Path(cache) if cache else default_directory()]
    return [layout.place(layout.data_dir() / "models"), layout.place(layout.cache_dir())]


def remove(layout: Layout, purge: bool, dry_run: bool, say: Say) -> int:
    _check_prefix(layout.prefix)
    manifest = Manifest.read(layout.manifest())
    if manifest is None:
        raise InstallError(f"nothing to uninstall for {layout.name}: no manifest at {layout.manifest()}"
                           + ("" if layout.scope == "system" else " (installed with --system?)"))
    uninstall(layout, manifest, user_data(layout) if purge else [], dry_run, say)
    if not purge:
        kept = [p for p in user_data(layout) if p.exists()]
        if kept:
            say(f"kept user data: {', '.join(map(str, kept))} (`dcvsr uninstall --purge` removes it)")
    return 0
