"""Cut lists from files: frame numbers, timecodes, or a CMX 3600 EDL.

A plain list holds one or more entries per line, separated by spaces or commas; '#' starts a
comment. An entry is a frame number (`120`), a timecode (`00:00:05:00`, `00:00:05;00` drop-frame)
or a time in seconds (`00:00:05.000`, `5.0s`). Each names the first frame of a new shot.

A CMX 3600 EDL (recognised by its `TITLE:` / `FCM:` header or its event lines) lists the edit's
events; each video event's record-in timecode starts a shot. Frame 0 of the clip is the first
event's record-in (an EDL's timeline usually starts at 01:00:00:00 while the rendered file starts
at its frame 0). A dissolve's incoming event starts at its record-in too: the frames of a dissolve
belong to the incoming shot.
"""

from __future__ import annotations

import re
from fractions import Fraction
from os import PathLike
from pathlib import Path

from ..errors import DCVSRError
from .timecode import timecode_to_frame


class CutListError(DCVSRError, ValueError):
    """A cut list file that cannot be read; the message names the file, the line and the entry."""


_EDL_HEADER = re.compile(r"^(TITLE|FCM)\s*:", re.IGNORECASE)
# event  reel  track  transition [duration]  src-in  src-out  rec-in  rec-out
_EDL_EVENT = re.compile(
    r"^(\d{3,})\s+(\S+)\s+(\S+)\s+(C|D|W\d{3}|K\s*B?|KO)\s+(?:\d{3}\s+)?"
    r"(\d\d:\d\d:\d\d[:;]\d\d)\s+(\d\d:\d\d:\d\d[:;]\d\d)\s+(\d\d:\d\d:\d\d[:;]\d\d)\s+(\d\d:\d\d:\d\d[:;]\d\d)\s*$",
    re.IGNORECASE,
)


def read_cut_list(path: str | PathLike[str], fps: Fraction, frames: int) -> list[int]:
    """The cuts a file lists, as ascending unique frame numbers in 1..frames-1 (0 is dropped)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CutListError(f"{source}: cannot read the cut list ({exc})") from exc
    return parse_cut_list(text, fps, frames, str(source))


def parse_cut_list(text: str, fps: Fraction, frames: int, where: str = "cut list") -> list[int]:
    lines = text.splitlines()
    is_edl = any(_EDL_HEADER.match(line.strip()) or _EDL_EVENT.match(line.strip()) for line in lines)
    cuts = _edl_cuts(lines, fps, where) if is_edl else _listed_cuts(lines, fps, where)
    outside = sorted({c for c in cuts if not 0 <= c < frames})
    if outside:
        raise CutListError(f"{where}: cuts at frames {outside[:5]} lie outside the clip's frames "
                           f"0..{frames - 1}")
    return sorted({c for c in cuts if c > 0})


def _listed_cuts(lines: list[str], fps: Fraction, where: str) -> list[int]:
    cuts = []
    for number, line in enumerate(lines, 1):
        for entry in line.split("#", 1)[0].replace(",", " ").split():
            try:
                cuts.append(_entry_frame(entry, fps))
            except ValueError as exc:
                raise CutListError(f"{where}, line {number}: {entry!r} is not a frame number, a timecode "
                                   f"(HH:MM:SS:FF) or a time in seconds ({exc})") from None
    return cuts


def _entry_frame(entry: str, fps: Fraction) -> int:
    if entry.isdigit():
        return int(entry)
    if entry.count(":") == 3 or ";" in entry:
        return timecode_to_frame(entry, fps)
    if not (entry.endswith("s") or "." in entry):
        raise ValueError("unknown form")
    *clock, seconds = entry.removesuffix("s").split(":")  # [[HH:]MM:]SS.sss
    if len(clock) > 2 or not all(part.isdigit() for part in clock):
        raise ValueError("unknown form")
    value = Fraction(seconds) + sum(int(part) * 60 ** (len(clock) - i) for i, part in enumerate(clock))
    if value < 0:
        raise ValueError("negative time")
    return round(value * fps)


def _edl_cuts(lines: list[str], fps: Fraction, where: str) -> list[int]:
    starts = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or _EDL_HEADER.match(text) or text.startswith("*") or text.upper().startswith("M2 "):
            continue  # comments (* FROM CLIP NAME ...), speed changes, the header
        match = _EDL_EVENT.match(text)
        if match is None:
            if re.match(r"^\d{3,}\s", text):
                raise CutListError(f"{where}, line {number}: not a CMX 3600 event line: {text!r}")
            continue
        if "V" not in match.group(3).upper():
            continue  # audio-only events do not cut the picture
        try:
            starts.append(timecode_to_frame(match.group(7), fps))
        except ValueError as exc:
            raise CutListError(f"{where}, line {number}: {exc}") from None
    if not starts:
        raise CutListError(f"{where}: the EDL has no video events")
    origin = min(starts)
    return [s - origin for s in starts]
