"""Scene cuts: finding them in a clip, reading them from a file, writing them in a log.

numpy only, so the VapourSynth plugin runs the same detector as the `dcvsr` command and both open
their engine sessions with the same cut list (a cut is the first frame of a new shot; nothing is
propagated across it).
"""

from .cutlist import CutListError, parse_cut_list, read_cut_list
from .detect import DETECTOR, Detector, detect_cuts, frame_scores
from .timecode import describe_cuts, frame_to_timecode, timecode_to_frame

__all__ = [
    "DETECTOR", "CutListError", "Detector", "describe_cuts", "detect_cuts", "frame_scores",
    "frame_to_timecode", "parse_cut_list", "read_cut_list", "timecode_to_frame",
]
