#!/usr/bin/env python3
"""Ship a `dcvsr train --unet nano` checkpoint as the package's nano model.

    .venv/bin/python scripts/ship_nano.py CHECKPOINT --history TEXT [--data DIR]

Copies the checkpoint's model folder (not its training/ resume state) to
dcvsr_engine/model/shipped/nano, names the data manifest's files relative to the training-data
folder (DIR, default ~/.cache/dcvsr/training-data: where scripts/training_data.py puts them), takes
the defaults and the presets from dcvsr_engine/model/nano.py, records how the checkpoint was
trained (TEXT: the runs it was fine-tuned through), and refuses a folder over the 30 MB budget.
Written beside the destination and renamed into place.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "client"))

from dcvsr_engine.model.info import read_info, validate_info  # noqa: E402
from dcvsr_engine.model.layout import DCVSR_JSON, NANO, SHIPPED_DIR, build_folder, write_json  # noqa: E402
from dcvsr_engine.model.nano import NANO_DEFAULTS, NANO_PRESETS  # noqa: E402

BUDGET = 30 * 2**20
MANIFEST = "data-manifest.json"


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, default=Path.home() / ".cache/dcvsr/training-data")
    parser.add_argument("--history", required=True, help="how the checkpoint was trained, in a sentence")
    args = parser.parse_args()
    src, dest = args.checkpoint, SHIPPED_DIR / NANO
    info = read_info(src / DCVSR_JSON)

    def build(work: Path) -> None:
        shutil.copytree(src, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("training"))
        manifest = json.loads((work / MANIFEST).read_text(encoding="utf-8"))
        data = str(args.data.expanduser().resolve()) + "/"
        for item in manifest["sources"]:
            item["path"] = item["path"].removeprefix(data)
        write_json(work / MANIFEST, manifest)
        info["name"] = NANO
        info["description"] = (
            f"nano: the small DC-VSR model trained by this project on a 2-core CPU (docs/nano.md) on "
            f"{len(manifest['sources'])} photos and clips from Debian packages ({MANIFEST}; licences: "
            f"{', '.join(manifest['licences'])}).")
        info["defaults"] = dict(NANO_DEFAULTS)
        info["presets"] = {name: dict(preset) for name, preset in NANO_PRESETS.items()}
        info["training"]["history"] = args.history
        validate_info(info, work / DCVSR_JSON)
        write_json(work / DCVSR_JSON, info)
        if folder_bytes(work) > BUDGET:
            raise SystemExit(f"ship_nano: {folder_bytes(work) / 2**20:.1f} MB is over the "
                             f"{BUDGET / 2**20:.0f} MB budget")

    build_folder(dest, build, "ship")
    print(f"ship_nano: {dest} ({folder_bytes(dest) / 2**20:.1f} MB, step {info['training']['step']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
