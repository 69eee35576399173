"""The engine's stated limits (docs/protocol.md, "Limits"): what one session may ask for.

Each is checked before anything is allocated for the session; a request over one gets ERROR 205
(LIMIT) with a message that names the limit. The protocol's own ranges (sizes 1..65536, ...)
are BAD_CLIP (201); these are the engine's, within them.
"""

from __future__ import annotations

MAX_FRAMES = 1 << 24          # frames per clip: 16,777,216 (77 hours at 60 fps)
MAX_SOURCE_PIXELS = 1 << 26   # source frame: 67,108,864 pixels (8192 x 8192)
MAX_OUTPUT_PIXELS = 1 << 28   # output frame: 268,435,456 pixels (16384 x 16384)
MAX_CUTS = 1 << 16            # entries in a cut list


class OverLimit(Exception):
    """A session or request over one of the engine's limits (ERROR 205); the message names it.
    Renderers raise it too, when a session would need more memory than the engine is allowed."""


def check_clip(width: int, height: int, frames: int, cuts: int) -> None:
    if frames > MAX_FRAMES:
        raise OverLimit(f"frame limit: {frames} frames is over the engine's limit of {MAX_FRAMES} per clip")
    if width * height > MAX_SOURCE_PIXELS:
        raise OverLimit(f"frame size limit: {width}x{height} is over the engine's limit of "
                        f"{MAX_SOURCE_PIXELS} pixels per source frame (8192x8192)")
    if cuts > MAX_CUTS:
        raise OverLimit(f"cut limit: {cuts} cuts is over the engine's limit of {MAX_CUTS}")


def check_output(width: int, height: int) -> None:
    if width * height > MAX_OUTPUT_PIXELS:
        raise OverLimit(f"output size limit: {width}x{height} is over the engine's limit of "
                        f"{MAX_OUTPUT_PIXELS} pixels per output frame (16384x16384)")
