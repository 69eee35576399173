"""Joining encoded chunks into the final file by stream copy, with the input's other streams.

A job encodes each segment into its own chunk (a Matroska file: it holds every codec here), each
starting with a fresh encoder, so every chunk is a closed group of pictures and chunks can be
encoded in any run of the job, interrupted or not, with the same bytes. Joining copies their
packets, untouched, into the output container, interleaved with the input's audio, subtitle
and data packets (also copied untouched), with the chapters and metadata of the input.

Timestamps: frame i of the output gets the input's frame i timestamp in the input's time
base, so every other stream keeps its sync whatever the length, the frame rate (variable
included) and the start time. A chunk's muxer rounds (Matroska: to milliseconds) and may shift its
timestamps; a packet's presentation time is therefore taken from its rank among the chunk's
packets. Decode times
are laid out again over the whole file: packet g (in decode order) gets the presentation
time of frame g - delay, where delay is the largest lag of decode order behind presentation
order in any chunk, so decode times increase strictly and never exceed presentation times.
"""

from __future__ import annotations

import heapq
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from dcvsr_protocol.errors import InputError, OutputError

from .codecs import MUXER_OPTIONS, MUXERS
from .probe import OtherStream, SourceInfo

CHUNK_MUXER = "matroska"
# The flag that leaves out each kind of stream.
DROP_FLAGS = {"audio": "--no-audio", "subtitle": "--no-subtitles"}


@dataclass(frozen=True)
class Chunk:
    path: Path
    start: int   # the chunk's first frame
    frames: int
    delay: int   # how far its decode order lags behind presentation order, in frames


def decode_delay(stamps: Sequence[int]) -> int:
    """The largest lag of decode index behind presentation rank among a chunk's packets (decode order)."""
    ranks = np.argsort(np.argsort(np.asarray(stamps, dtype=np.int64), kind="stable"), kind="stable")
    return int(max(0, (np.arange(len(ranks)) - ranks).max(initial=0)))


def join_chunks(
    dest: Path,
    suffix: str,
    chunks: Sequence[Chunk],
    stamps: np.ndarray,
    time_base: Fraction,
    rate: Fraction,
    source: SourceInfo | None,
    kept: Sequence[OtherStream],
) -> None:
    """Write `dest` (a partial the caller commits) from `chunks` and the input's `kept` streams.

    `stamps[i]` is output frame i's presentation time in `time_base` units; `rate` is the nominal
    frame rate the container states (the average one for a variable rate).
    """
    delay = max((c.delay for c in chunks), default=0)
    step = int(stamps[1] - stamps[0]) if len(stamps) > 1 else 1
    with av.open(str(dest), "w", format=MUXERS[suffix], options=MUXER_OPTIONS) as out:
        with av.open(str(chunks[0].path)) as first:
            video = out.add_stream_from_template(first.streams.video[0])
        video.time_base = time_base
        video.codec_context.framerate = rate  # the stream's stated rate (avg_frame_rate)
        if source is not None and source.sample_aspect:
            # The chunks are Matroska, whose display size PyAV cannot set: the stream states it again
            # (MP4 and QuickTime record it; H.264 and HEVC also hold it in the bitstream).
            video.codec_context.sample_aspect_ratio = source.sample_aspect
        if source is not None and source.rotation:
            video.set_display_rotation(source.rotation)  # shown turned, as the input; pixels as coded
        inputs = av.open(str(source.path)) if source is not None and kept else None
        try:
            copied = {}
            if source is not None:
                video.metadata.update(source.video_metadata)
                out.metadata.update(source.metadata)
                if source.chapters:
                    out.set_chapters(list(source.chapters))
            if inputs is not None:
                for s in kept:
                    copied[s.index] = _copy_stream(out, inputs.streams[s.index])
            sources = [_video_packets(chunks, stamps, time_base, delay, step, video)]
            if inputs is not None:
                sources.append(_input_packets(inputs, [inputs.streams[i] for i in copied], copied))
            for _, _, packet, stream in heapq.merge(*sources, key=lambda item: (item[0], item[1])):
                packet.stream = stream
                out.mux_one(packet)
        finally:
            if inputs is not None:
                inputs.close()


def _copy_stream(out: av.container.OutputContainer, template: av.stream.Stream) -> av.stream.Stream:
    stream = out.add_stream_from_template(template)
    stream.time_base = template.time_base
    stream.metadata.update(template.metadata)
    stream.disposition = template.disposition
    return stream


Item = tuple[float, int, av.Packet, av.stream.Stream]  # (seconds, tie-break, packet, output stream)


def _video_packets(chunks: Sequence[Chunk], stamps: np.ndarray, time_base: Fraction, delay: int,
                   step: int, stream: av.stream.Stream) -> Iterator[Item]:
    g = 0
    tb = float(time_base)
    for chunk in chunks:
        with av.open(str(chunk.path)) as container:
            pts = [p.pts for p in container.demux(container.streams.video[0]) if p.size]
        if len(pts) != chunk.frames:
            raise OutputError(f"{chunk.path}: holds {len(pts)} frames, the job expected {chunk.frames}")
        ranks = np.argsort(np.argsort(np.asarray(pts, dtype=np.int64), kind="stable"), kind="stable")
        with av.open(str(chunk.path)) as container:
            packets = (p for p in container.demux(container.streams.video[0]) if p.size)
            for packet, rank in zip(packets, ranks, strict=True):
                frame = chunk.start + int(rank)
                packet.time_base = time_base
                packet.pts = int(stamps[frame])
                dts = int(stamps[g - delay]) if g >= delay else int(stamps[0]) - (delay - g) * step
                packet.dts = dts
                packet.duration = int(stamps[frame + 1] - stamps[frame]) if frame + 1 < len(stamps) else step
                yield dts * tb, 0, packet, stream
                g += 1


def _input_packets(container: av.container.InputContainer, streams: list[av.stream.Stream],
                   targets: dict[int, av.stream.Stream]) -> Iterator[Item]:
    last = float("-inf")
    for packet in container.demux(*streams):
        if packet.size == 0:
            continue
        stamp = packet.dts if packet.dts is not None else packet.pts
        when = float(stamp * packet.time_base) if stamp is not None else last
        last = max(last, when)
        yield when, 1, packet, targets[packet.stream.index]


def check_streams_fit(path: Path, suffix: str, kept: Sequence[OtherStream]) -> None:
    """Before any rendering: fail naming each kept stream that the output container cannot hold,
    and a container that can (or the flag that drops that kind of stream)."""
    if not kept:
        return
    try:
        with av.open(str(path)) as container:
            misfits = [s for s in kept if not _fits(container.streams[s.index], suffix)]
            if not misfits:
                return
            lines = []
            for s in misfits:
                holders = [x for x in (".mkv", ".mov", ".mp4") if x != suffix
                           and _fits(container.streams[s.index], x)]
                where = (f"a {' or '.join(holders)} output can hold it" if holders
                         else "no output container can")
                lines.append(f"{s.describe()} cannot be copied into a {suffix} file ({where}, "
                             f"or drop it with {DROP_FLAGS.get(s.kind, '--no-data')})")
    except av.FFmpegError as exc:
        raise InputError(f"{path}: not a readable video file ({exc})") from exc
    raise OutputError(f"{path}: " + "; ".join(lines))


def _fits(template: av.stream.Stream, suffix: str) -> bool:
    """Whether the muxer for `suffix` accepts a copy of `template` (a header written to memory)."""
    try:
        with av.open(io.BytesIO(), "w", format=MUXERS[suffix], options=MUXER_OPTIONS) as trial:
            _copy_stream(trial, template)
            trial.start_encoding()
        return True
    except (av.FFmpegError, ValueError):
        return False
