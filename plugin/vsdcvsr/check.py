"""`python -m vsdcvsr`: check that everything upscale() needs is in place, and say what is missing.

Checks, in order: VapourSynth (the module and a working core), numpy and the dcvsr client, the settings
description, the engine (connecting, or starting one unless --no-start or DCVSR_AUTOSTART=0), and the
model and device (by opening a one-frame session, which makes the engine load the model). Prints one
line per item, `NAME: ok (...)` or `NAME: MISSING: what to do`; exits 0 when all are ok, else 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import __version__, options


class Report:
    def __init__(self) -> None:
        self.missing = 0

    def ok(self, name: str, detail: str) -> None:
        print(f"{name}: ok ({detail})", flush=True)

    def fail(self, name: str, detail: str) -> None:
        self.missing += 1
        print(f"{name}: MISSING: {detail}", flush=True)


def _vapoursynth(report: Report) -> None:
    try:
        import vapoursynth as vs
    except Exception as e:  # ImportError, or a broken native module
        report.fail("vapoursynth", f"`import vapoursynth` failed ({e}); install VapourSynth: "
                    "`pip install vapoursynth` on Python 3.12+, or scripts/install-vapoursynth in the dcvsr "
                    "repository on 3.11")
        return
    try:
        core = vs.core
        blank = core.std.BlankClip(width=16, height=16, format=vs.YUV420P8)
        clip = core.resize.Bicubic(blank, format=vs.RGBS, matrix_in_s="170m")
        clip.get_frame(0)
        lines = [ln.strip() for ln in str(core).splitlines() if ln.strip().startswith(("Core", "API"))]
    except Exception as e:
        report.fail("vapoursynth", f"the core does not work ({e}); reinstall VapourSynth")
        return
    report.ok("vapoursynth", f"module {vs.__version__}, {', '.join(lines)}")


def _client(report: Report) -> bool:
    try:
        import dcvsr_client
        import numpy
    except ImportError as e:
        report.fail("client", f"{e}; install the dcvsr client: `pip install dcvsr-client` "
                    "(or `pip install -e ./client` in the dcvsr repository)")
        return False
    report.ok("client", f"dcvsr_client {dcvsr_client.__version__}, numpy {numpy.__version__}")
    report.ok("settings", f"{len(options.setting_fields())} settings from dcvsr_protocol.settings")
    return True


def _engine(report: Report, args: argparse.Namespace) -> None:
    from dcvsr_client import Client, Code, DCVSRClientError, EngineError

    try:
        client = Client.connect(autostart=False if args.no_start else None)
    except DCVSRClientError as e:
        report.fail("engine", str(e))
        report.fail("model", "not checked (no engine)")
        return
    with client:
        status = client.status()
        report.ok("engine", f"pid {status['pid']}, version {status['version']}, "
                  f"runtime folder {status['runtime_dir']}")
        settings: dict[str, Any] = {k: v for k, v in (("model", args.model), ("device", args.device),
                                                      ("dtype", args.dtype)) if v is not None}
        try:  # waits while the engine loads its default model ("starting")
            with client.open("vsdcvsr check", 16, 16, 1, dtype="f32", layout="planar", settings=settings):
                pass
        except EngineError as e:
            if e.code == Code.NOT_READY:
                report.fail("model", f"{e}; see the engine's log in {status['runtime_dir']}")
            else:
                report.fail("model", f"{e}; install a model with `dcvsr models pull`, or name one with "
                            "--model (upscale(model=...))")
            return
        status = client.status()
        if status["renderer"] != "dcvsr":
            report.fail("model", f"the engine runs the {status['renderer']!r} renderer, not DC-VSR; stop it "
                        "and start `dcvsr serve`")
            return
        stats = status.get("stats") or {}
    loaded = stats.get("models_loaded", "?")
    report.ok("model", f"{args.model or 'the engine default'} loads ({loaded} loaded in the engine)")
    devices = stats.get("devices")
    if devices:
        report.ok("device", f"{devices}")
    else:
        report.fail("device", "the engine reports no device in use")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vsdcvsr", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="check this model (a name or folder) instead of the engine's default")
    parser.add_argument("--device", help="check this device (cpu, cuda, cuda:1, mps, auto)")
    parser.add_argument("--dtype", help="check this compute type (fp32, fp16, bf16, auto)")
    parser.add_argument("--no-start", action="store_true", help="do not start an engine if none runs")
    args = parser.parse_args(argv)
    print(f"vsdcvsr {__version__} on Python {sys.version.split()[0]} ({sys.executable})", flush=True)
    report = Report()
    _vapoursynth(report)
    if _client(report):
        _engine(report, args)
    if report.missing:
        print(f"{report.missing} item(s) missing: vsdcvsr.upscale will not work until they are fixed")
        return 1
    print("everything vsdcvsr.upscale needs is in place")
    return 0
