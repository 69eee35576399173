"""Building the OpenFX bridge and its C test programs for the tests (make -C ofx_bridge)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BRIDGE = ROOT / "ofx_bridge"
BUILD = BRIDGE / "build"
TEST_BIN = BUILD / "tests"
BUNDLE = BUILD / "DCVSR.ofx.bundle"
LINUX_PLUGIN = BUNDLE / "Contents" / "Linux-x86-64" / "DCVSR.ofx"
WIN64_PLUGIN = BUNDLE / "Contents" / "Win64" / "DCVSR.ofx"
WIN64_HOST = BUILD / "win64" / "ofx_host.exe"


def make(*targets: str, timeout: float = 600) -> None:
    """Run make in ofx_bridge (incremental: fast when nothing changed); fail with its output."""
    if shutil.which("make") is None or shutil.which("gcc") is None:
        raise RuntimeError("gcc and make are needed to build the OpenFX bridge: "
                           "run scripts/install-ofx-tools")
    result = subprocess.run(["make", "-C", str(BRIDGE), f"PYTHON={sys.executable}", *targets],
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"make {' '.join(targets)} failed:\n{result.stdout}\n{result.stderr}")
