"""Which encoder, pixel format and options each output gets, and which output names are valid.

An output is a video file (a VIDEO_EXTENSIONS suffix picks the container) or a folder of
images (a name without a suffix, or ending in '/'); any other suffix is a typo and an error.
Defaults: H.264 (libx264, CRF 16, preset slow) in .mp4/.mkv/.mov/.avi, VP9 in .webm.
`--codec` picks another encoder (libx265 8 or 10-bit, prores_ks 422 HQ or 4444 by pixel
format, ffv1 lossless), `--pix-fmt` its pixel format, `--crf` its quality; a named preset
sets all three (PRESETS).

4:2:0 and 4:2:2 cannot hold an odd width (4:2:0 nor an odd height), so odd sizes are encoded
4:4:4 instead of padding, keeping the exact size at the cost of compatibility with some
hardware players.

Encoded output is deterministic: the same frames give the same bytes. Every muxer is told to
be bit-exact (Matroska otherwise writes a random segment UID, MP4 a creation time), and the
threaded encoders get a fixed thread count, never "as many as this machine has cores"
(bench/bench_file_pipeline.py measures that it does not make the encoder the bottleneck).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath

from dcvsr_protocol.errors import OutputError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm")
IMAGE_CODECS = ("png", "tiff")
IMAGE_SUFFIXES = (".png", ".tif", ".tiff")

# FFmpeg muxer per extension: the partial file's name does not end in the extension.
MUXERS = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov", ".avi": "avi", ".webm": "webm"}
# fflags=+bitexact: no random Matroska segment UID, no wall-clock times, no library versions.
MUXER_OPTIONS = {"fflags": "+bitexact"}

# Fixed encoder threads: libx264's frame threads (its output depends on the count), x265's
# frame threads and worker pool (each changes the bytes; the pool defaults to the machine's CPUs,
# so a fixed size is what makes two machines agree).
X264_THREADS = 8
X265_FRAME_THREADS = 2
X265_POOL_THREADS = 8
# libx264's AVX-512 code (FFmpeg 8.1's x264, with macroblock-tree rate control) gives different
# bytes from run to run for the same frames, whatever the thread count; without it (AVX2 and
# below, which every AVX-512 CPU has) the bytes repeat and match AVX2-only machines.
_X264_AVX2 = "MMX2,SSE2,SSE2Fast,SSSE3,SSE4.2,AVX,FMA3,BMI1,BMI2,AVX2,LZCNT"


def _has_avx512() -> bool:
    try:
        from numpy._core._multiarray_umath import __cpu_features__  # numpy's own CPU detection
    except ImportError:
        return False
    return bool(__cpu_features__.get("AVX512F"))


def _x264_params() -> dict[str, str]:
    return {"x264-params": f"asm={_X264_AVX2}"} if _has_avx512() else {}


@dataclass(frozen=True)
class Encoder:
    codec: str
    pix_fmt: str
    odd_pix_fmt: str  # for odd widths or heights
    pix_fmts: tuple[str, ...]  # the pixel formats accepted from --pix-fmt
    options: dict[str, str] = field(default_factory=dict)
    crf: bool = False  # takes --crf
    min_size: tuple[int, int] = (1, 1)  # width, height


_YUV_8_10 = ("yuv420p", "yuv422p", "yuv444p", "yuv420p10le", "yuv422p10le", "yuv444p10le")
ENCODERS = {
    "libx264": Encoder("libx264", "yuv420p", "yuv444p", ("yuv420p", "yuv422p", "yuv444p"),
                       {"crf": "16", "preset": "slow", "threads": str(X264_THREADS), **_x264_params()},
                       crf=True),
    "libx265": Encoder("libx265", "yuv420p10le", "yuv444p10le", _YUV_8_10,
                       {"crf": "16", "preset": "medium",
                        "x265-params": f"log-level=error:frame-threads={X265_FRAME_THREADS}:"
                                        f"pools={X265_POOL_THREADS}"}, crf=True,
                       # Frames under one 64-pixel coding tree unit corrupt libx265's heap (FFmpeg
                       # 8.1's build), and frames one unit wide make its motion search read memory
                       # it never wrote (other bytes from run to run): both refused instead.
                       min_size=(66, 64)),
    "libvpx-vp9": Encoder("libvpx-vp9", "yuv420p", "yuv444p", _YUV_8_10,
                          {"crf": "18", "b": "0", "deadline": "good", "cpu-used": "2", "row-mt": "1",
                           "threads": str(X264_THREADS)},
                          crf=True),
    # Profile from the pixel format: 3 = 422 HQ, 4 = 4444 (see prores_profile).
    "prores_ks": Encoder("prores_ks", "yuv422p10le", "yuv444p10le", ("yuv422p10le", "yuv444p10le"),
                         {"vendor": "apl0"}),
    "ffv1": Encoder("ffv1", "gbrp16le", "gbrp16le",
                    ("gbrp16le", "gbrp10le", "gbrp12le", "yuv420p", "yuv422p", "yuv444p", "yuv420p10le",
                     "yuv422p10le", "yuv444p10le", "yuv444p16le"),
                    {"level": "3", "slicecrc": "1", "g": "1"}),
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
    ".mkv": ("libx264", "libx265", "libvpx-vp9", "ffv1", "prores_ks"),
    ".mov": ("libx264", "libx265", "prores_ks"),
    ".avi": ("libx264", "ffv1"),
    ".webm": ("libvpx-vp9",),
}
# Where a sample aspect ratio (anamorphic pixels) can be stored: MP4 and QuickTime store it for any
# codec (pasp); H.264 and HEVC store it in their own bitstream (VUI), in any container. Matroska and
# WebM keep it as a display size that PyAV cannot set, and AVI not at all.
SAR_CONTAINERS = (".mp4", ".mov")
SAR_CODECS = ("libx264", "libx265")

# Per container fixes: AVI cannot carry B-frame reordering cleanly; Apple players want hvc1.
CONTAINER_OPTIONS = {(".avi", "libx264"): {"bf": "0"}}
CODEC_TAGS = {(".mp4", "libx265"): "hvc1", (".mov", "libx265"): "hvc1"}


@dataclass(frozen=True)
class Preset:
    codec: str
    pix_fmt: str
    suffix: str  # the container it is meant for, named when another one cannot hold it
    what: str


PRESETS = {
    "archive": Preset("ffv1", "yuv444p10le", ".mkv", "FFV1 10-bit 4:4:4, lossless"),
    "edit": Preset("prores_ks", "yuv422p10le", ".mov", "ProRes 422 HQ"),
    "web": Preset("libx264", "yuv420p", ".mp4", "H.264 4:2:0 8-bit"),
}


@dataclass(frozen=True)
class VideoFormat:
    """What a video output is encoded with: everything that changes its bytes."""

    codec: str
    pix_fmt: str
    options: dict[str, str]
    codec_tag: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"codec": self.codec, "pix_fmt": self.pix_fmt, "options": dict(sorted(self.options.items())),
                "codec_tag": self.codec_tag}


def check_sample_aspect(suffix: str, codec: str | None, preset: str | None, sar: object) -> None:
    """Refuse (before rendering) an anamorphic input whose pixel shape the output could not keep."""
    name = PRESETS[preset].codec if preset else codec or DEFAULT_CODECS.get(suffix.lower())
    if not sar or suffix.lower() in SAR_CONTAINERS or name in SAR_CODECS or name not in ENCODERS:
        return
    holders = [s for s in SAR_CONTAINERS if name in ALLOWED_CODECS[s]]
    ways = [f"{name} in a {' or '.join(holders)} file"] if holders else []
    ways.append(f"--codec {' or '.join(SAR_CODECS)} in any container")
    raise OutputError(f"the input's pixels are not square (sample aspect ratio {sar}), which {name} in a "
                      f"{suffix} file cannot record; {' or '.join(ways)} keeps it")


def is_video_path(path_suffix: str) -> bool:
    return path_suffix.lower() in VIDEO_EXTENSIONS


def output_kind(name: str) -> str:
    """"video" or "images" for an output name as typed; an unknown suffix is an OutputError.

    A folder of images is a name without a suffix or one ending in '/' (so `out.v2/` is a
    folder); `result.mp5` is a typo, not a folder.
    """
    if name.endswith(("/", "\\")):
        return "images"
    suffix = PurePath(name).suffix
    if not suffix:
        return "images"
    if is_video_path(suffix):
        return "video"
    known = ", ".join(VIDEO_EXTENSIONS)
    if suffix.lower() in IMAGE_SUFFIXES:
        raise OutputError(
            f"{name}: image sequences are written into a folder: give a folder name (no suffix, or ending "
            f"in '/') and --codec {' or '.join(IMAGE_CODECS)}; video suffixes are {known}"
        )
    raise OutputError(
        f"{name}: unknown output suffix {suffix!r}; video outputs end in {known}, and a folder of images "
        "is a name without a suffix or ending in '/'"
    )


def prores_profile(pix_fmt: str) -> str:
    return "4" if pix_fmt.startswith(("yuv444", "yuva444")) else "3"


def choose_encoder(suffix: str, codec: str | None, width: int, height: int) -> tuple[Encoder, str]:
    """(encoder, pixel format) for an output extension, an optional codec name and a frame size."""
    fmt = video_format(suffix, width, height, codec=codec)
    return ENCODERS[fmt.codec], fmt.pix_fmt


def video_format(
    suffix: str,
    width: int,
    height: int,
    *,
    codec: str | None = None,
    pix_fmt: str | None = None,
    crf: float | None = None,
    preset: str | None = None,
    options: dict[str, str] | None = None,
) -> VideoFormat:
    """The encoder settings for a video output; OutputError names what is wrong and what would do."""
    suffix = suffix.lower()
    if preset is not None:
        if preset not in PRESETS:
            raise OutputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        chosen = PRESETS[preset]
        if codec not in (None, chosen.codec):
            raise OutputError(f"--preset {preset} is {chosen.what}; it cannot be combined with "
                              f"--codec {codec}")
        codec, pix_fmt = chosen.codec, pix_fmt or chosen.pix_fmt
    name = codec or DEFAULT_CODECS[suffix]
    if name not in ENCODERS:
        raise OutputError(f"unknown codec {name!r}; video codecs are {', '.join(ENCODERS)}, image "
                          f"sequences (folder outputs) {', '.join(IMAGE_CODECS)}")
    if name not in ALLOWED_CODECS[suffix]:
        holders = [s for s, names in ALLOWED_CODECS.items() if name in names]
        raise OutputError(
            f"codec {name!r} cannot be written to {suffix} files; choose one of "
            f"{', '.join(ALLOWED_CODECS[suffix])}, or a {' or '.join(holders)} output for {name}"
        )
    encoder = ENCODERS[name]
    odd = width % 2 or height % 2
    if pix_fmt is None:
        pix_fmt = encoder.odd_pix_fmt if odd else encoder.pix_fmt
    elif pix_fmt not in encoder.pix_fmts:
        raise OutputError(f"{name} cannot write pixel format {pix_fmt!r}; choose one of "
                          f"{', '.join(encoder.pix_fmts)}")
    if odd and pix_fmt.startswith(("yuv420", "yuv422")):
        raise OutputError(f"{pix_fmt} needs an even width and height; the output is {width}x{height} "
                          f"(use a 4:4:4 format such as {encoder.odd_pix_fmt})")
    if width < encoder.min_size[0] or height < encoder.min_size[1]:
        least = "x".join(map(str, encoder.min_size))
        raise OutputError(f"{name} needs frames of at least {least} pixels; the output is {width}x{height}")
    opts = {**encoder.options, **CONTAINER_OPTIONS.get((suffix, name), {})}
    if crf is not None:
        if not encoder.crf:
            raise OutputError(f"{name} has no CRF setting (--crf applies to "
                              f"{', '.join(n for n, e in ENCODERS.items() if e.crf)})")
        opts["crf"] = f"{crf:g}"
    if name == "prores_ks":
        opts["profile"] = prores_profile(pix_fmt)
    opts.update(options or {})
    return VideoFormat(name, pix_fmt, opts, CODEC_TAGS.get((suffix, name)))
