"""How long `dcvsr --help`, `dcvsr upscale --help` and an early error take (target: at most 0.5 s).

Each command runs in a fresh process, --rounds times; prints the median and the spread, and beside
them, measured in the same run, the time of `python -c "import torch"` (what every command cost when
the CLI imported torch first) and of a bare `python -c pass` (the interpreter's own start).

    python bench/bench_cli_startup.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.5

COMMANDS = {
    "dcvsr --help": ["-m", "dcvsr_engine.cli", "--help"],
    "dcvsr upscale --help": ["-m", "dcvsr_engine.cli", "upscale", "--help"],
    "dcvsr upscale (missing input)": ["-m", "dcvsr_engine.cli", "upscale", "/nonexistent.mp4", "-o",
                                      "/tmp/x.mp4"],
    "baseline: python -c 'import torch'": ["-c", "import torch"],
    "baseline: python -c pass": ["-c", "pass"],
}


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], capture_output=True, env=env, timeout=120, cwd=ROOT)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "client"),
                                                        str(ROOT / "installers")]))
    print(f"{'command':40s} {'median':>8s} {'min':>7s} {'max':>7s}  (of {args.rounds}; target <= {TARGET} s)")
    for name, command in COMMANDS.items():
        times = [timed(command, env) for _ in range(args.rounds)]
        median = statistics.median(times)
        verdict = "" if name.startswith("baseline") else ("  ok" if median <= TARGET else "  OVER TARGET")
        print(f"{name:40s} {median:7.3f}s {min(times):6.3f}s {max(times):6.3f}s{verdict}")


if __name__ == "__main__":
    main()
