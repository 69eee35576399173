"""Reading and writing clips: video files (PyAV) and image folders, as float32 RGB frames."""

from .atomic import check_output
from .clip import Clip
from .codecs import VIDEO_EXTENSIONS
from .colour import BT709, SRGB
from .images import IMAGE_EXTENSIONS
from .reader import clip_from_frames, open_clip
from .writer import ClipWriter, open_writer

__all__ = [
    "BT709",
    "IMAGE_EXTENSIONS",
    "SRGB",
    "VIDEO_EXTENSIONS",
    "Clip",
    "ClipWriter",
    "check_output",
    "clip_from_frames",
    "open_clip",
    "open_writer",
]
