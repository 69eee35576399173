"""The OpenFX host: the bundle into the platform's OpenFX folder, or for --user into a private folder
that hosts find through OFX_PLUGIN_PATH."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InstallError
from .layout import BUNDLE, Layout
from .plan import Plan

# Built by the wheel's build hook (setup.py) into the installed package; tests may name another.
PACKAGED_BUNDLE = Path(__file__).parent / "payload" / BUNDLE
BINARY_FOLDERS = {"linux": "Linux-x86-64", "darwin": "MacOS", "win32": "Win64"}


def packaged_bundle() -> Path | None:
    return PACKAGED_BUNDLE if (PACKAGED_BUNDLE / "Contents").is_dir() else None


def bundle_binary(bundle: Path, platform: str) -> Path:
    return bundle / "Contents" / BINARY_FOLDERS[platform] / "DCVSR.ofx"


def present(layout: Layout) -> bool:
    """Whether an OpenFX host looks installed: the platform's plugin folder exists (hosts create it), or
    OFX_PLUGIN_PATH is set."""
    system = Layout(layout.platform, "system", layout.prefix, layout.home, layout.env)
    return system.ofx_dir().is_dir() or bool(layout.env.get("OFX_PLUGIN_PATH"))


def add(plan: Plan, bundle: Path | None) -> None:
    layout = plan.layout
    if bundle is None:
        raise InstallError("this dcvsr installation carries no OpenFX bundle (it was built without a C "
                           "compiler, or from a checkout without ofx_bridge/); rebuild the wheel with a C "
                           "compiler present, or leave out --hosts ofx")
    if not (bundle / "Contents").is_dir():
        raise InstallError(f"{bundle} is not an OpenFX bundle (no Contents/ folder)")
    if not bundle_binary(bundle, layout.platform).is_file():
        have = sorted(p.name for p in (bundle / "Contents").iterdir() if p.is_dir() and p.name != "Resources")
        raise InstallError(f"the OpenFX bundle {bundle} has no {BINARY_FOLDERS[layout.platform]} binary "
                           f"(it holds {', '.join(have) or 'none'}): it was built for another platform")
    target = layout.ofx_dir() / BUNDLE
    plan.add_tree(bundle, target)
    plan.notes.append(f"OpenFX: {target}")
    if layout.scope == "user":
        _user_path(plan, layout.ofx_dir())


def _user_path(plan: Plan, folder: Path) -> None:
    """Put a --user bundle's folder on OFX_PLUGIN_PATH the way the platform's hosts read it."""
    layout = plan.layout
    shown = os.fspath(folder)  # under --prefix too: the files written there are what hosts read
    env_file = layout.ofx_env_file()
    if env_file is not None:
        # systemd's environment.d is what desktop sessions (GNOME, KDE) give the applications they start.
        plan.add_file(env_file, f"OFX_PLUGIN_PATH={shown}${{OFX_PLUGIN_PATH:+:$OFX_PLUGIN_PATH}}\n".encode())
        plan.notes.append(f"OFX_PLUGIN_PATH: {env_file} adds {shown} for applications started by your "
                          "desktop session (after you log in again); for hosts started from a shell, add "
                          f"this line to ~/.profile:  export OFX_PLUGIN_PATH=\"{shown}"
                          "${OFX_PLUGIN_PATH:+:$OFX_PLUGIN_PATH}\"")
    elif layout.platform == "darwin":
        plan.notes.append(f"OFX_PLUGIN_PATH: hosts started from the Dock read launchd's environment; run "
                          f"`launchctl setenv OFX_PLUGIN_PATH \"{shown}\"` (until logout), and add that line "
                          "to a login item to make it permanent")
    else:
        plan.notes.append(f"OFX_PLUGIN_PATH: run `setx OFX_PLUGIN_PATH \"{shown}\"` once (permanent, for "
                          "programs started afterwards)")
