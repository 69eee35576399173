"""The VapourSynth host: the plugin into the Python environment VapourSynth uses.

That environment is found by asking, not guessed: a Python named with --vapoursynth-python, else the
one `vspipe` embeds (it runs a script that reports sys.prefix), else this Python and `python3` on
PATH, each asked to `import vapoursynth`. When that Python already imports vsdcvsr (the usual case:
VapourSynth and dcvsr in one environment) nothing is written. Otherwise the client and plugin
packages (pure Python, numpy only) are copied into a dcvsr folder and a `dcvsr-host.pth` file in that
environment's site-packages adds it to its path. Either way `python -m vsdcvsr` runs there as the check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import InstallError
from .plan import Plan

PTH_NAME = "dcvsr-host.pth"
PACKAGES = ("dcvsr_client", "dcvsr_protocol", "vsdcvsr")
PROBE = r"""
import json, site, sys, sysconfig
info = {"executable": sys.executable, "prefix": sys.prefix, "venv": sys.prefix != sys.base_prefix,
        "purelib": sysconfig.get_paths()["purelib"], "usersite": site.getusersitepackages(),
        "python": sys.version.split()[0]}
try:
    import vapoursynth
    info["vapoursynth"] = f"R{vapoursynth.__version__.release_major}"
    core = [ln.strip() for ln in str(vapoursynth.core).splitlines() if ln.strip().startswith("Core ")]
    info["core"] = core[0].split()[1] if core else "?"
except Exception as e:
    info["error"] = f"{type(e).__name__}: {e}"
for name in ("numpy", "vsdcvsr"):
    try:
        module = __import__(name)
        info[name] = getattr(module, "__file__", None) or "?"
    except Exception:
        info[name] = None
print("DCVSR-PROBE " + json.dumps(info))
"""
# VapourSynth's module and core come from separate builds where the module has no wheel for this
# Python (CPython 3.11 here: the R73 module runs the R81 core); the module then warns on import.
MISMATCH_NOTE = ("VapourSynth's \"Version mismatch\" warning on import is harmless when the module was built "
                 "from an older release than the core it loads (scripts/install-vapoursynth on Python 3.11: "
                 "module R73, core R81, API 4 both; plugin/README.md)")


@dataclass(frozen=True)
class VapourSynthPython:
    executable: str
    info: dict

    @property
    def has_plugin(self) -> bool:
        return bool(self.info.get("vsdcvsr"))


def probe(python: str, timeout: float = 60.0) -> dict | None:
    """What `python` says about itself and its vapoursynth, or None when it cannot be run."""
    try:
        result = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, env=_clean_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    info = _parse_probe(result.stdout)
    if info is not None:
        info["stderr"] = result.stderr.strip()[-2000:]
    return info


def _parse_probe(text: str) -> dict | None:
    for line in text.splitlines():
        if line.startswith("DCVSR-PROBE "):
            return json.loads(line.removeprefix("DCVSR-PROBE "))
    return None


def _clean_env() -> dict[str, str]:
    # The asked Python must see its own environment, not this one's (PYTHONPATH, a venv's variables).
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def vspipe_python(timeout: float = 60.0) -> str | None:
    """The Python `vspipe` embeds, by running a script that reports sys.prefix's interpreter."""
    vspipe = shutil.which("vspipe")
    if vspipe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "probe.vpy"
        out = Path(tmp) / "where.json"
        script.write_text("import json, sys, vapoursynth as vs\n"
                          f"open({str(out)!r}, 'w').write(json.dumps([sys.prefix, sys.version_info[:2]]))\n"
                          "vs.core.std.BlankClip(length=1).set_output()\n")
        try:
            subprocess.run([vspipe, "--info", str(script), "-"], capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if not out.is_file():
            return None
        prefix, (major, minor) = json.loads(out.read_text())
    for name in (f"bin/python{major}.{minor}", "bin/python3", "python.exe"):
        if (Path(prefix) / name).is_file():
            return str(Path(prefix) / name)
    return None


def find(named: str | None) -> VapourSynthPython | None:
    """The Python VapourSynth uses, or None when there is none (InstallError when a named one fails)."""
    if named:
        info = probe(named)
        if info is None:
            raise InstallError(f"cannot run --vapoursynth-python {named}")
        if "vapoursynth" not in info:
            raise InstallError(f"{named} cannot import vapoursynth ({info.get('error')}); name the Python "
                               "that VapourSynth is installed in")
        return VapourSynthPython(named, info)
    candidates = [vspipe_python(), sys.executable, shutil.which("python3")]
    for python in dict.fromkeys(c for c in candidates if c):
        info = probe(python)
        if info and "vapoursynth" in info:
            return VapourSynthPython(python, info)
    return None


def site_dir(target: VapourSynthPython, scope: str) -> Path:
    """Where the .pth goes: a virtual environment's own site-packages; for --user in a system Python the
    user site-packages; for --system the Python's site-packages."""
    info = target.info
    if info["venv"] or scope == "system":
        return Path(info["purelib"])
    return Path(info["usersite"])


def add(plan: Plan, target: VapourSynthPython) -> None:
    layout = plan.layout
    if not target.info.get("numpy"):
        raise InstallError(f"{target.executable} has no numpy, which vsdcvsr needs: run `{target.executable} "
                           "-m pip install numpy`, then install again")
    if target.has_plugin and not _is_ours(target, layout.host_python_dir()):
        plan.notes.append(f"VapourSynth: {target.executable} already imports vsdcvsr "
                          f"({target.info['vsdcvsr']})")
        return
    import importlib

    home = layout.host_python_dir()
    for name in PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue  # dcvsr_protocol exists only in newer layouts of the client
        plan.add_tree(Path(module.__file__).parent, home / name)
    site = layout.place(site_dir(target, layout.scope))
    plan.add_file(site / PTH_NAME, f"{home}\n".encode())
    plan.notes.append(f"VapourSynth: {site / PTH_NAME} puts {home} on {target.executable}'s path")


def _is_ours(target: VapourSynthPython, home: Path) -> bool:
    return str(target.info.get("vsdcvsr", "")).startswith(str(home))


def check(target: VapourSynthPython) -> tuple[bool, str]:
    """Run `python -m vsdcvsr --no-start` there: vapoursynth and the client must be ok (an engine that
    is not running yet is fine: the first upscale() starts one)."""
    try:
        result = subprocess.run([target.executable, "-m", "vsdcvsr", "--no-start"], capture_output=True,
                                text=True, timeout=120, stdin=subprocess.DEVNULL, env=_clean_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"`{target.executable} -m vsdcvsr` failed: {e}"
    lines = result.stdout.splitlines()
    needed = [ln for ln in lines if ln.startswith(("vapoursynth:", "client:"))]
    ok = len(needed) == 2 and all(": ok " in ln for ln in needed)
    return ok, "\n".join(lines) + ("\n" + result.stderr.strip() if result.stderr.strip() else "")
