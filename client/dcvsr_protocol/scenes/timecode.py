"""SMPTE timecodes <-> frame numbers (SMPTE ST 12-1), drop-frame included.

A timecode counts frames at the nominal rate (the rate rounded: 30 for 30000/1001). Drop-frame
timecodes (written with ';' before the frames) skip frame numbers 0 and 1 (2x for 60000/1001) at
the start of every minute except every tenth, so that they keep up with the clock at 29.97 fps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction

_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


def nominal_rate(fps: Fraction) -> int:
    return max(1, round(fps))


def _dropped_per_minute(fps: Fraction) -> int:
    """Frame numbers a drop-frame timecode skips per minute: 2 at 29.97, 4 at 59.94, else none."""
    if fps.denominator == 1001 and nominal_rate(fps) % 30 == 0:
        return 2 * nominal_rate(fps) // 30
    return 0


def timecode_to_frame(text: str, fps: Fraction) -> int:
    """'HH:MM:SS:FF' (or 'HH:MM:SS;FF', drop-frame) -> the frame number it labels, from 00:00:00:00.

    Raises ValueError for text that is not a timecode or whose frames exceed the rate.
    """
    match = _TIMECODE.match(text.strip())
    if not match or match.group(4) in ".,":
        raise ValueError(f"{text!r} is not a timecode HH:MM:SS:FF")
    hours, minutes, seconds, sep, frames = match.groups()
    rate = nominal_rate(fps)
    h, m, s, f = int(hours), int(minutes), int(seconds), int(frames)
    if m > 59 or s > 59 or f >= rate:
        raise ValueError(f"timecode {text!r} is out of range at {rate} frames per second")
    total = ((h * 60 + m) * 60 + s) * rate + f
    if sep == ";":
        drop = _dropped_per_minute(fps)
        if not drop:
            raise ValueError(f"drop-frame timecode {text!r} needs a 29.97 or 59.94 fps clip, "
                             f"not {float(fps):g}")
        minutes_total = h * 60 + m
        if m % 10 and s == 0 and f < drop:
            raise ValueError(f"drop-frame timecode {text!r} does not exist (those frame numbers are skipped)")
        total -= drop * (minutes_total - minutes_total // 10)
    return total


def frame_to_timecode(frame: int, fps: Fraction) -> str:
    """The frame's timecode at the clip's rate: drop-frame (';') at 29.97 and 59.94, else non-drop."""
    rate = nominal_rate(fps)
    drop = _dropped_per_minute(fps)
    if drop:
        per_ten = 10 * 60 * rate - 9 * drop
        per_minute = 60 * rate - drop
        tens, rest = divmod(frame, per_ten)
        skipped = 9 * drop * tens + (drop * ((rest - drop) // per_minute) if rest >= drop else 0)
        frame += skipped
    f = frame % rate
    s = frame // rate
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{';' if drop else ':'}{f:02d}"


def describe_cuts(cuts: Sequence[int], fps: Fraction) -> str:
    """'3 scene cuts: 120 (00:00:05:00), ...' for a log."""
    if not cuts:
        return "no scene cuts"
    listed = ", ".join(f"{c} ({frame_to_timecode(c, fps)})" for c in cuts)
    return f"{len(cuts)} scene cut{'s' if len(cuts) != 1 else ''} (frame and timecode): {listed}"
