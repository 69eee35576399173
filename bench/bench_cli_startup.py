"""How long `dcvsr --help`, `dcvsr upscale --help` and an early error take (target: at most 0.5 s).

Each command runs in a fresh process, once untimed (so that Python writes its byte-code caches, as pip
does when it installs: PYTHONDONTWRITEBYTECODE is dropped for these runs) and then --rounds times;
prints the median and the spread, and beside them, measured in the same run, the time of
`python -c "import torch"` (what every command cost when the CLI imported torch first) and of a bare
`python -c pass` (the interpreter's own start). On a loaded machine, compare against those two.

    python bench/bench_cli_startup.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
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


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds, and CPU seconds (user + system) of the child: on a busy machine the CPU time still
    says what the command itself costs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], capture_output=True, env=env, timeout=120, cwd=ROOT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "client"),
                                                        str(ROOT / "installers")]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'command':40s} {'median':>8s} {'min':>7s} {'max':>7s} {'cpu':>7s}  (wall, of {args.rounds}; "
          f"cpu: median user+sys; target <= {TARGET} s)")
    for name, command in COMMANDS.items():
        timed(command, env)  # warm: byte-code caches written
        runs = [timed(command, env) for _ in range(args.rounds)]
        walls = [w for w, _ in runs]
        median = statistics.median(walls)
        cpu = statistics.median(c for _, c in runs)
        verdict = "" if name.startswith("baseline") else ("  ok" if median <= TARGET else "  OVER TARGET")
        print(f"{name:40s} {median:7.3f}s {min(walls):6.3f}s {max(walls):6.3f}s {cpu:6.3f}s{verdict}")


if __name__ == "__main__":
    main()
