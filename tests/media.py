"""Real media files for the file-workflow tests, written with PyAV: video, sound, subtitles, chapters."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 48000


def pattern(index: int, height: int, width: int) -> np.ndarray:
    """A moving pattern, (height, width, 3) uint8: frames differ, so dropped or doubled frames show."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    wave = np.sin((xx + 1.7 * index) / 3.0)[..., None] * np.cos(yy[..., None] / 4.0 + np.arange(3))
    return np.clip(127.5 + 100 * wave, 0, 255).astype(np.uint8)


def write_av_file(
    path: Path,
    count: int = 8,
    size: tuple[int, int] = (24, 16),
    *,
    rate: Fraction = Fraction(24000, 1001),
    stamps: list[int] | None = None,
    time_base: Fraction = Fraction(1, 24000),
    audio: bool = True,
    subtitles: bool = True,
    chapters: bool = True,
    codec: str = "ffv1",
    pix_fmt: str = "yuv420p",
    start: int = 0,
    audio_start: float = 0.0,
) -> Path:
    """A video file: `count` frames at `rate` (or at `stamps`, in `time_base` units: variable rate),
    starting at `start`; FLAC sound (or AAC in .mp4) covering the video, one subtitle per second,
    two chapters and a title. Returns `path`."""
    width, height = size
    if stamps is None:
        step = round(1 / (rate * time_base))
        stamps = [start + i * step for i in range(count)]
    duration = float((stamps[-1] + (stamps[-1] - stamps[-2] if len(stamps) > 1 else 1)) * time_base)
    with av.open(str(path), "w") as out:
        out.metadata["title"] = "test clip"
        video = out.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = time_base
        video.codec_context.time_base = time_base
        video.metadata["language"] = "eng"
        sound = sub = None
        if audio:
            codec_name = "aac" if path.suffix == ".mp4" else "flac"
            sound = out.add_stream(codec_name, rate=SAMPLE_RATE, layout="stereo")
            sound.metadata["language"] = "fra"
        if subtitles:
            sub = out.add_mux_stream("mov_text" if path.suffix in (".mp4", ".mov") else "subrip")
            sub.time_base = Fraction(1, 1000)
            sub.metadata["language"] = "deu"
        if chapters:
            half = int(duration * 500)
            out.set_chapters([
                {"id": 1, "start": 0, "end": half, "time_base": Fraction(1, 1000),
                 "metadata": {"title": "One"}},
                {"id": 2, "start": half, "end": 2 * half, "time_base": Fraction(1, 1000),
                 "metadata": {"title": "Two"}},
            ])
        for i, pts in enumerate(stamps):
            rgb = av.VideoFrame.from_ndarray(pattern(i, height, width), format="rgb24")
            frame = rgb.reformat(format=pix_fmt)
            frame.pts = pts
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            _write_sound(out, sound, audio_start, duration)
        if sub is not None:
            for second in range(max(1, int(duration))):
                packet = av.Packet(f"line {second}".encode())
                packet.stream = sub
                packet.time_base = Fraction(1, 1000)
                packet.pts = packet.dts = second * 1000
                packet.duration = 500
                out.mux(packet)
    return path


def _write_sound(out: av.container.OutputContainer, sound: av.stream.Stream, start: float,
                 duration: float) -> None:
    total = int((duration - start) * SAMPLE_RATE)
    t = np.arange(total) / SAMPLE_RATE
    samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    fmt = "s16" if sound.codec_context.name == "flac" else "fltp"
    block = 1024
    for offset in range(0, total, block):
        piece = samples[offset:offset + block]
        data = np.stack([piece, piece])
        if fmt == "s16":
            data = (data * 32767).astype(np.int16).T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = int(start * SAMPLE_RATE) + offset
        frame.time_base = Fraction(1, SAMPLE_RATE)
        out.mux(sound.encode(frame))
    out.mux(sound.encode(None))


def packets(path: Path, kind: str) -> list[tuple[bytes, float]]:
    """(bytes, presentation time in seconds) of every packet of the first `kind` stream."""
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [(bytes(p), float(p.pts * p.time_base)) for p in container.demux(stream) if p.size]


def output_bytes(path: Path) -> dict[str, bytes]:
    """An output's bytes by file name: the file itself, or every file of an image folder."""
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir())}
    return {path.name: path.read_bytes()}
