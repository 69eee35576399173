"""What a job writes: the output path, its kind, and everything that decides its bytes."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcvsr_protocol.errors import OutputError

from ..io.codecs import ENCODERS, IMAGE_CODECS, PRESETS, VideoFormat, output_kind, video_format


@dataclass(frozen=True)
class OutputRequest:
    """The output flags of `dcvsr upscale` (a codec, pixel format, CRF or preset; streams left out)."""

    codec: str | None = None
    pix_fmt: str | None = None
    crf: float | None = None
    preset: str | None = None
    drop: frozenset[str] = frozenset()  # stream kinds left out: "audio", "subtitle", "data"
    chapters: bool = True
    metadata: bool = True


@dataclass(frozen=True)
class OutputSpec:
    path: Path
    kind: str                    # "video" or "images"
    suffix: str                  # ".mkv" ... for video, "" for images
    video: VideoFormat | None    # video outputs
    image_codec: str | None      # image outputs: "png" or "tiff"
    request: OutputRequest

    def to_dict(self) -> dict[str, Any]:
        r = self.request
        return {"path": str(self.path), "kind": self.kind, "suffix": self.suffix,
                "video": self.video.to_dict() if self.video else None, "image_codec": self.image_codec,
                "drop": sorted(r.drop), "chapters": r.chapters, "metadata": r.metadata}


def check_request(name: str, request: OutputRequest) -> str:
    """Checks that need no input (the name's suffix, a preset's container); returns the output kind."""
    kind = output_kind(name)
    if kind == "images":
        if request.codec not in (None, *IMAGE_CODECS):
            raise OutputError(f"{name}: a folder of images is written as {' or '.join(IMAGE_CODECS)}; codec "
                              f"{request.codec!r} needs a video output ({_video_suffix_hint(request)})")
        if request.preset or request.crf is not None or request.pix_fmt:
            raise OutputError(f"{name}: --preset, --crf and --pix-fmt apply to video outputs; image folders "
                              "are 16-bit RGB")
    elif request.codec in IMAGE_CODECS:
        raise OutputError(f"{name}: --codec {request.codec} writes image sequences: give a folder name "
                          "(no suffix, or ending in '/')")
    return kind


def _video_suffix_hint(request: OutputRequest) -> str:
    suffix = ".mkv" if request.preset is None else PRESETS[request.preset].suffix
    return f"for example out{suffix}"


def output_spec(name: str, path: Path, width: int, height: int, request: OutputRequest) -> OutputSpec:
    kind = check_request(name, request)
    if kind == "images":
        return OutputSpec(path, kind, "", None, request.codec or "png", request)
    suffix = path.suffix.lower()
    try:
        fmt = video_format(suffix, width, height, codec=request.codec, pix_fmt=request.pix_fmt,
                           crf=request.crf, preset=request.preset)
    except OutputError as exc:
        if request.preset and PRESETS[request.preset].suffix != suffix:
            preset = PRESETS[request.preset]
            raise OutputError(f"{name}: --preset {request.preset} ({preset.what}) cannot be written to "
                              f"{suffix} files; use a {preset.suffix} output") from exc
        raise
    return OutputSpec(path, kind, suffix, fmt, None, request)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output format and streams")
    group.add_argument("--codec", help=f"video codec ({', '.join(ENCODERS)}; default by suffix: libx264, "
                       f"VP9 in .webm) or, for a folder output, the image format ({', '.join(IMAGE_CODECS)})")
    group.add_argument("--pix-fmt", help="pixel format of a video output, e.g. yuv420p10le (libx265 10-bit), "
                       "yuv444p10le (prores_ks: ProRes 4444; yuv422p10le: 422 HQ)")
    group.add_argument("--crf", type=float,
                       help="constant rate factor of libx264, libx265 and VP9 (default 16; lower is better)")
    group.add_argument("--preset", choices=tuple(PRESETS),
                       help="; ".join(f"{name}: {p.what} ({p.suffix})" for name, p in PRESETS.items()))
    group.add_argument("--no-audio", action="store_true", help="leave out the input's sound")
    group.add_argument("--no-subtitles", action="store_true", help="leave out the input's subtitles")
    group.add_argument("--no-data", action="store_true",
                       help="leave out the input's data and attachment streams and extra pictures")
    group.add_argument("--no-chapters", action="store_true", help="leave out the input's chapters")
    group.add_argument("--no-metadata", action="store_true",
                       help="leave out the input's title, language and other tags")


def output_request(args: argparse.Namespace) -> OutputRequest:
    drop = {kind for kind, flag in (("audio", args.no_audio), ("subtitle", args.no_subtitles)) if flag}
    if args.no_data:
        drop |= {"data", "attachment", "video"}
    return OutputRequest(codec=args.codec, pix_fmt=args.pix_fmt, crf=args.crf, preset=args.preset,
                         drop=frozenset(drop), chapters=not args.no_chapters, metadata=not args.no_metadata)
