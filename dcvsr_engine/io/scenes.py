"""A job's cut list: read from a file (`--scene-cuts`), detected on the input, or none (`--no-scene-cuts`).

The cut list is part of the job (its journal keeps `SceneCuts.to_json()` with the settings) and of
the engine session (OPEN's `cuts`): every segment chain restarts at a cut, so no TAP state crosses
it. Detection is dcvsr_protocol.scenes' detector, the one the VapourSynth plugin runs, so both front
ends cut a clip the same way.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcvsr_protocol.errors import InputError
from dcvsr_protocol.scenes import CutListError, describe_cuts, detect_cuts, read_cut_list

from .clip import Clip


@dataclass(frozen=True)
class SceneCuts:
    cuts: tuple[int, ...]  # first frames of new shots, ascending, in 1..frames-1
    origin: str  # "detected", "file <path>" or "off"

    def describe(self, clip: Clip) -> str:
        return f"{describe_cuts(self.cuts, clip.fps)} ({self.origin})"

    def to_json(self) -> dict[str, Any]:
        return {"cuts": list(self.cuts), "origin": self.origin}


def scene_cuts(clip: Clip, cut_file: Path | None = None, detect: bool = True) -> SceneCuts:
    """The cuts of `clip`: the file's when given, else detected (a decoding pass), else none."""
    if cut_file is not None:
        try:
            cuts = read_cut_list(cut_file, clip.fps, clip.num_frames)
        except CutListError as exc:
            raise InputError(str(exc)) from None
        return SceneCuts(tuple(cuts), f"file {cut_file}")
    if not detect:
        return SceneCuts((), "off")
    return SceneCuts(tuple(detect_cuts(clip.frames())), "detected")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scene cuts (no TAP state crosses a cut)")
    which = group.add_mutually_exclusive_group()
    which.add_argument("--scene-cuts", type=Path, metavar="FILE",
                       help="the cuts, instead of detecting them: frame numbers, timecodes (HH:MM:SS:FF) or "
                       "a CMX 3600 EDL (frame 0 = its first record-in)")
    which.add_argument("--no-scene-cuts", action="store_true",
                       help="no cuts: render the clip as one shot (default: detect them on the input)")


def from_args(clip: Clip, args: argparse.Namespace) -> SceneCuts:
    return scene_cuts(clip, args.scene_cuts, detect=not args.no_scene_cuts)
