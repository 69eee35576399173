"""Which encoder and pixel format each video output gets.

Defaults: H.264 (libx264, CRF 16, preset slow) in .mp4/.mkv/.mov/.avi, VP9 in .webm.
4:2:0 cannot hold an odd width or height (H.264 crops 4:2:0 only in 2-pixel steps), so odd
sizes are encoded 4:4:4 instead of padding, keeping the exact size at the cost of
compatibility with some hardware players. `codec="ffv1"` (.mkv, .avi) is lossless 16-bit
RGB, for round trips and archival.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dcvsr_protocol.errors import OutputError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm")

# FFmpeg muxer per extension: the partial file's name does not end in the extension.
MUXERS = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov", ".avi": "avi", ".webm": "webm"}


@dataclass(frozen=True)
class Encoder:
    codec: str
    pix_fmt: str
    odd_pix_fmt: str  # for odd widths or heights
    options: dict[str, str] = field(default_factory=dict)


ENCODERS = {
    "libx264": Encoder("libx264", "yuv420p", "yuv444p", {"crf": "16", "preset": "slow"}),
    "libx265": Encoder(
        "libx265",
        "yuv420p10le",
        "yuv444p10le",
        {"crf": "16", "preset": "medium", "x265-params": "log-level=error"},
    ),
    "libvpx-vp9": Encoder(
        "libvpx-vp9",
        "yuv420p",
        "yuv444p",
        {"crf": "18", "b": "0", "deadline": "good", "cpu-used": "2", "row-mt": "1"},
    ),
    "ffv1": Encoder("ffv1", "gbrp16le", "gbrp16le", {"level": "3", "slicecrc": "1", "g": "1"}),
}

DEFAULT_CODECS = {
    ".mp4": "libx264",
    ".mkv": "libx264",
    ".mov": "libx264",
    ".avi": "libx264",
    ".webm": "libvpx-vp9",
}
ALLOWED_CODECS = {
    ".mp4": ("libx264", "libx265", "libvpx-vp9"),
    ".mkv": ("libx264", "libx265", "libvpx-vp9", "ffv1"),
    ".mov": ("libx264", "libx265"),
    ".avi": ("libx264", "ffv1"),
    ".webm": ("libvpx-vp9",),
}
# Per container fixes: AVI cannot carry B-frame reordering cleanly; Apple players want hvc1.
CONTAINER_OPTIONS = {(".avi", "libx264"): {"bf": "0"}}
CODEC_TAGS = {(".mp4", "libx265"): "hvc1", (".mov", "libx265"): "hvc1"}


def is_video_path(path_suffix: str) -> bool:
    return path_suffix.lower() in VIDEO_EXTENSIONS


def choose_encoder(suffix: str, codec: str | None, width: int, height: int) -> tuple[Encoder, str]:
    """(encoder, pixel format) for an output extension, an optional codec name and a frame size."""
    suffix = suffix.lower()
    name = codec or DEFAULT_CODECS[suffix]
    if name not in ALLOWED_CODECS[suffix]:
        raise OutputError(
            f"codec {name!r} cannot be written to {suffix} files; "
            f"choose one of {', '.join(ALLOWED_CODECS[suffix])}"
        )
    encoder = ENCODERS[name]
    odd = width % 2 or height % 2
    return encoder, encoder.odd_pix_fmt if odd else encoder.pix_fmt
