"""`dcvsr doctor`: what is installed where, which hosts were found, whether the engine answers (with
which model, device and dtype), the render cache, the GPU, and for each problem what to do.

diagnose() gathers a JSON-able report (`--json`); render() turns it into one screen for a person.
Nothing here starts an engine or imports torch.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import ofx, vapoursynth
from .layout import BUNDLE, Layout
from .manifest import Manifest


def _problem(report: dict[str, Any], what: str, fix: str) -> None:
    report["problems"].append({"problem": what, "fix": fix})


def _package(report: dict[str, Any]) -> None:
    import dcvsr_engine

    dists = {}
    for name in ("dcvsr", "dcvsr-client", "vsdcvsr"):
        try:
            dists[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    report["dcvsr"] = {"version": dcvsr_engine.__version__, "python": sys.executable,
                       "package": str(Path(dcvsr_engine.__file__).parent), "distributions": dists}
    if "dcvsr" in dists and ({"dcvsr-client", "vsdcvsr"} & set(dists)):
        both = ", ".join(sorted(set(dists) - {"dcvsr"}))
        _problem(report, f"this environment holds dcvsr and {both}, which install the same packages",
                 f"`{sys.executable} -m pip uninstall {both.replace(',', '')}` then "
                 f"`{sys.executable} -m pip install --force-reinstall --no-deps dcvsr` (dcvsr carries the "
                 "client and the plugin; README.md, Installing)")


def _installations(report: dict[str, Any]) -> None:
    found = []
    for scope in ("user", "system"):
        layout = Layout.current(scope, None)
        try:
            manifest = Manifest.read(layout.manifest())
        except Exception as e:  # a broken manifest is a problem to report, not a crash
            _problem(report, str(e), "see the message")
            continue
        if manifest is not None:
            found.append({"layout": manifest.layout, "version": manifest.version, "hosts": manifest.hosts,
                          "manifest": str(layout.manifest()), "files": len(manifest.files),
                          "settings": [s["what"] for s in manifest.settings]})
            missing = [p for p in manifest.files if not Path(p).exists()]
            if missing:
                _problem(report, f"{len(missing)} installed file(s) are gone, e.g. {missing[0]}",
                         f"`dcvsr install {'--system' if scope == 'system' else ''}` again repairs it")
    report["installed"] = found


def _ofx(report: dict[str, Any]) -> None:
    user = Layout.current("user", None)
    system = Layout.current("system", None)
    places = [p for p in (system.ofx_dir(), user.ofx_dir()) if (p / BUNDLE).is_dir()]
    report["ofx"] = {"packaged_bundle": str(ofx.packaged_bundle()) if ofx.packaged_bundle() else None,
                     "host_folder": str(system.ofx_dir()), "host_folder_exists": system.ofx_dir().is_dir(),
                     "OFX_PLUGIN_PATH": os.environ.get("OFX_PLUGIN_PATH"),
                     "installed_in": [str(p) for p in places]}
    if report["ofx"]["packaged_bundle"] is None:
        _problem(report, "this dcvsr carries no OpenFX bundle", "reinstall dcvsr from a wheel built with a C "
                 "compiler (pip builds it from source when gcc or clang is present)")


def _vapoursynth(report: dict[str, Any], named: str | None) -> None:
    vspipe = shutil.which("vspipe")
    if vspipe and vapoursynth.vspipe_python() is None:
        # VapourSynth R74+: vspipe runs only after `vapoursynth config` has recorded which Python it embeds.
        _problem(report, f"{vspipe} cannot run a script (it does not know which Python to embed)",
                 "run `vapoursynth config` with the Python VapourSynth is installed in")
    try:
        target = vapoursynth.find(named)
    except Exception as e:
        report["vapoursynth"] = {"error": str(e)}
        _problem(report, str(e), "name the Python VapourSynth uses with --vapoursynth-python")
        return
    if target is None:
        report["vapoursynth"] = None
        return
    info = dict(target.info)
    report["vapoursynth"] = info
    if "mismatch" in info.get("stderr", "").lower() or info.get("vapoursynth") != info.get("core"):
        info["note"] = vapoursynth.MISMATCH_NOTE
    if not target.has_plugin:
        _problem(report, f"VapourSynth's Python ({target.executable}) cannot import vsdcvsr",
                 "`dcvsr install --hosts vapoursynth`")


def _engine(report: dict[str, Any]) -> None:
    from dcvsr_client import Client, DCVSRClientError, autostart
    from dcvsr_protocol import engine_command_file

    command_file = engine_command_file.find()
    try:
        command = autostart.engine_command()
    except DCVSRClientError as e:
        command = None
        _problem(report, str(e), "`dcvsr install` rewrites the engine command file")
    report["engine_command"] = {"file": str(command_file) if command_file else None, "command": command}
    if command and shutil.which(command[0]) is None:
        _problem(report, f"the engine command's program {command[0]} does not exist",
                 "`dcvsr install` again (from the environment dcvsr now lives in)")
    try:
        with Client.connect(autostart=False, timeout=5) as client:
            status = client.status()
    except DCVSRClientError as e:
        report["engine"] = {"running": False, "why": str(e).splitlines()[0]}
        return
    stats = status.get("stats") or {}
    report["engine"] = {"running": True, "pid": status["pid"], "version": status["version"],
                        "renderer": status["renderer"], "models": stats.get("models"),
                        "runtime_dir": status["runtime_dir"]}


def _models(report: dict[str, Any]) -> None:
    from dcvsr_engine.model.catalogue import models

    report["models"] = [{"name": m.name, "origin": m.origin, "path": str(m.path), "bytes": m.size,
                         "default": m.is_default, "problem": m.problem} for m in models()]
    if not any(m["default"] for m in report["models"]):
        _problem(report, "no model can run", "`dcvsr models pull dc-vsr` (or reinstall dcvsr: it ships nano)")


def _cache(report: dict[str, Any]) -> None:
    import platformdirs  # the engine's default (server/frame_cache.py), without importing the engine

    from dcvsr_engine.model.catalogue import folder_size

    folder = Path(os.environ.get("DCVSR_CACHE_DIR") or platformdirs.user_cache_dir("dcvsr"))
    report["render_cache"] = {"folder": str(folder), "bytes": folder_size(folder) if folder.is_dir() else 0,
                              "limit": os.environ.get("DCVSR_CACHE_BYTES", "8G")}


def _gpu(report: dict[str, Any]) -> None:
    smi = shutil.which("nvidia-smi")
    gpus: list[str] = []
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
            gpus = [ln.strip() for ln in out.splitlines() if ln.strip()]
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = None
    report["gpu"] = {"nvidia": gpus, "torch": torch_version,
                     "torch_build": "CUDA" if torch_version and "+cpu" not in torch_version else "CPU"}
    if gpus and torch_version and "+cpu" in torch_version:
        _problem(report, f"a GPU is present ({gpus[0]}) but torch {torch_version} is a CPU build",
                 "install the CUDA build of torch 2.13.0 into dcvsr's environment")


def diagnose(vs_python: str | None = None) -> dict[str, Any]:
    report: dict[str, Any] = {"problems": []}
    for step in (_package, _installations, _ofx, lambda r: _vapoursynth(r, vs_python), _engine, _models,
                 _cache, _gpu):
        step(report)
    return report


def render(report: dict[str, Any]) -> str:
    """One screen for a person."""
    from dcvsr_engine.model.catalogue import human_size

    d = report["dcvsr"]
    lines = [f"dcvsr {d['version']} in {d['package']} (Python {sys.version.split()[0]}, {d['python']})"]
    for inst in report["installed"] or [None]:
        if inst is None:
            lines.append("installed for hosts: nothing yet (`dcvsr install`)")
        else:
            lines.append(f"installed ({inst['layout']}): {', '.join(inst['hosts']) or 'engine only'}; "
                         f"{inst['files']} files; manifest {inst['manifest']}"
                         + (f"; {', '.join(inst['settings'])}" if inst["settings"] else ""))
    o = report["ofx"]
    lines.append(f"OpenFX: bundle {'packaged' if o['packaged_bundle'] else 'NOT packaged'}; installed in "
                 f"{', '.join(o['installed_in']) or 'no OpenFX folder'}; host folder {o['host_folder']} "
                 f"{'exists' if o['host_folder_exists'] else 'absent (no OpenFX host?)'}"
                 + (f"; OFX_PLUGIN_PATH={o['OFX_PLUGIN_PATH']}" if o["OFX_PLUGIN_PATH"] else ""))
    v = report["vapoursynth"]
    if not v:
        lines.append("VapourSynth: no Python here imports vapoursynth")
    elif "error" in v and "vapoursynth" not in v:
        lines.append(f"VapourSynth: {v['error']}")
    else:
        lines.append(f"VapourSynth: module {v['vapoursynth']}, core {v.get('core', '?')}, "
                     f"Python {v['python']} "
                     f"({v['executable']}); vsdcvsr {'importable' if v.get('vsdcvsr') else 'NOT importable'}")
        if v.get("note"):
            lines.append(f"  note: {v['note']}")
    e = report["engine"]
    if e["running"]:
        lines.append(f"engine: running (pid {e['pid']}, dcvsr {e['version']}, renderer {e['renderer']}); "
                     f"models: {e['models'] or 'none loaded yet'}")
    else:
        lines.append(f"engine: not running ({e['why']}); clients start one on demand")
    c = report["engine_command"]
    lines.append(f"engine command: {' '.join(c['command'] or ['?'])}"
                 + (f" (from {c['file']})" if c["file"] else " (default)"))
    for m in report["models"]:
        problem = f"; CANNOT RUN: {m['problem']}" if m["problem"] else ""
        lines.append(f"model {m['name']}{' (default)' if m['default'] else ''}: {m['origin']}, "
                     f"{human_size(m['bytes'])}, {m['path']}{problem}")
    r = report["render_cache"]
    lines.append(f"render cache: {human_size(r['bytes'])} in {r['folder']} (limit {r['limit']})")
    g = report["gpu"]
    lines.append(f"GPU: {', '.join(g['nvidia']) or 'none found'}; torch {g['torch'] or 'not installed'} "
                 f"({g['torch_build']} build)")
    if report["problems"]:
        lines.append(f"{len(report['problems'])} problem(s):")
        lines += [f"  - {p['problem']}\n    fix: {p['fix']}" for p in report["problems"]]
    else:
        lines.append("no problems found")
    return "\n".join(lines) + "\n"
