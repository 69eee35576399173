"""One upscale job: a clip through the sampler into an output, resumable and bit-identical.

The clip is rendered as its canonical segments (sampler/segments.py) in order. Each segment's
frames are encoded into a chunk of their own (a fresh encoder: a closed group of pictures), or
written as images; then the state TAP carries into the next segment is saved, and the journal
records the segment as finished (journal.py). The storing (with the colour conversion back)
runs on one background thread while the model renders the next segment (at most one rendered
segment waits), so it costs the job no time unless it is slower than the model; the bytes do
not depend on this timing. A run that finds the journal of the same job continues at the first
unfinished segment with the carried state it saved, so an interrupted job and an uninterrupted
one compute and encode the same segments the same way. At the end the chunks are joined by
stream copy with the input's sound, subtitles, chapters and metadata (io/join.py), and the
result is renamed into place in one step.
"""

from __future__ import annotations

import os
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from dcvsr_protocol.colour import ColourTags
from dcvsr_protocol.errors import DCVSRError, OutputError

from ..colour import ModelColour
from ..io.atomic import commit, partial_name, remove_path
from ..io.clip import Clip
from ..io.image_sink import ImageFolderSink, frame_file
from ..io.join import CHUNK_MUXER, Chunk, decode_delay, join_chunks
from ..io.probe import SourceInfo
from ..io.video_sink import VideoSink
from ..sampler.carry import CarriedState
from ..sampler.conditioning import Geometry
from ..sampler.pipeline import DCVSRSampler, check_frame
from ..sampler.segments import Segment
from .journal import Journal, durable_write, file_digest, open_journal, sync_folder
from .output import OutputSpec
from .progress import Progress

_FRAMES = "frames"


@dataclass(frozen=True)
class Timing:
    """Output frame i's presentation time is stamps[i] in time_base units (the input's)."""

    stamps: np.ndarray
    time_base: Fraction


@dataclass(frozen=True)
class Picture:
    """How the encoded frames are described: nominal rate, colour tags, sample aspect ratio."""

    fps: Fraction
    colour: ColourTags | None
    sample_aspect: Fraction | None


def timing(clip: Clip, source: SourceInfo | None) -> Timing:
    if source is not None and source.pts is not None and len(source.pts) == clip.num_frames:
        return Timing(source.pts, source.time_base)
    return Timing(np.arange(clip.num_frames, dtype=np.int64), 1 / clip.fps)


def job_identity(clip: Clip, sampler: DCVSRSampler, spec: OutputSpec,
                 extra: dict[str, Any]) -> dict[str, Any]:
    """Everything that decides the output's bytes; a journal made with anything else is not resumed."""
    geo = sampler.plan.geometry(clip.height, clip.width)
    source: dict[str, Any] = {"kind": clip.kind, "frames": clip.num_frames}
    if clip.source is not None:
        st = clip.source.stat()
        source.update(path=str(clip.source.resolve()), bytes=st.st_size, mtime_ns=st.st_mtime_ns)
    return {"input": source, "output": spec.to_dict(), "settings": sampler.settings.to_dict(),
            "chain": sampler.chain_key(geo), "device": str(sampler.model.device),
            "threads": torch.get_num_threads(), **extra}


@dataclass(frozen=True)
class ChunkFormat:
    """How each segment's chunk (or images) of a job is written. It pickles, so a cluster's workers
    (cluster/) write the very chunks a one-machine render writes."""

    spec: OutputSpec
    when: Timing
    picture: Picture
    colour: ModelColour


@dataclass
class JobFiles:
    """A job laid out on disk: its geometry, canonical segments, journal and chunk format."""

    geo: Geometry
    segments: list[Segment]
    journal: Journal
    resumed: bool   # the journal of an earlier run of this very job was found
    fmt: ChunkFormat


def open_job(clip: Clip, source: SourceInfo | None, sampler: DCVSRSampler, spec: OutputSpec, cuts: list[int],
             *, restart: bool = False, identity: dict[str, Any] | None = None, colour: ModelColour,
             work_dir: Path | None = None) -> JobFiles:
    """Plan `clip`'s segments and open (or resume) the job's journal, beside the output or in `work_dir`."""
    geo = sampler.plan.geometry(clip.height, clip.width)
    segments = sampler.plan.segments(clip.num_frames, cuts)
    layout = [[s.start, s.stop, s.context] for s in segments]
    ident = identity or job_identity(clip, sampler, spec, {"colour": colour.key})
    journal, resumed = open_journal(spec.path, ident, sorted(cuts), layout, restart, work_dir)
    picture = Picture(clip.fps, colour.tagged(clip.colour) if clip.kind == "video" else None,
                      source.sample_aspect if source is not None else None)
    return JobFiles(geo, segments, journal, resumed, ChunkFormat(spec, timing(clip, source), picture, colour))


@contextmanager
def job_failures(files: JobFiles) -> Iterator[None]:
    """Writing failures become an OutputError; an error running again would not mend (bad input, an
    unwritable output) removes the job's folder. An interruption (KeyboardInterrupt, SIGTERM, SIGKILL)
    keeps the journal, so the same command continues."""
    spec, journal = files.fmt.spec, files.journal
    try:
        try:
            yield
        except (OSError, av.FFmpegError) as exc:  # a full disk, a vanished folder, an encoder failure
            raise OutputError(f"{spec.path}: writing the job's files in {journal.folder} failed "
                              f"({exc})") from exc
    except DCVSRError:
        remove_path(journal.folder)
        raise


def render_job(
    clip: Clip,
    source: SourceInfo | None,
    sampler: DCVSRSampler,
    spec: OutputSpec,
    cuts: list[int],
    progress: Progress,
    *,
    overwrite: bool = False,
    restart: bool = False,
    identity: dict[str, Any] | None = None,
    colour: ModelColour,
    work_dir: Path | None = None,
) -> bool:
    """Render `clip` into `spec.path`; returns whether an earlier run's work was resumed.

    `colour` converts the frames into the model's encoding and the output back (colour/, OpenColorIO).
    """
    files = open_job(clip, source, sampler, spec, cuts, restart=restart, identity=identity, colour=colour,
                     work_dir=work_dir)
    segments, journal = files.segments, files.journal
    first = journal.first_unfinished()
    progress_frames = segments[first].start if first < len(segments) else clip.num_frames
    progress.start_job(progress.job + 1, str(clip.source), str(spec.path), clip.num_frames, progress_frames)
    with job_failures(files):
        # The next segment starts from the state saved last (a resumed job) or just computed.
        carry = (CarriedState.load(journal.path(journal.carry[first]))
                 if first < len(segments) and segments[first].context else None)
        # Shutting down waits for the segment being stored, so an interruption leaves a journal
        # that names only whole chunks.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dcvsr-store") as storer:
            stored: deque[Future] = deque()
            for seg in segments[first:]:
                out, carry = _render_segment(clip, sampler, files, seg, carry)
                stored.append(storer.submit(_store_segment, files, seg, out, carry, progress.frame_done))
                while len(stored) > 1:  # bounded: store k while rendering k + 1, no further ahead
                    stored.popleft().result()  # raises what storing raised
            while stored:
                stored.popleft().result()
        finish_job(files, source, overwrite)
    return files.resumed


def render_segment_chunk(clip: Clip, sampler: DCVSRSampler, files: JobFiles, seg: Segment,
                         carry: CarriedState | None, frame_done: Callable[[], None]
                         ) -> tuple[dict[str, Any], CarriedState | None]:
    """Render one segment into its chunk (or images) in the job's folder, durably; returns the journal's
    record of it and the state carried into the next segment. The journal itself is the caller's."""
    out, new_carry = _render_segment(clip, sampler, files, seg, carry)
    return _write_segment(files, seg, out, frame_done), new_carry


def _render_segment(clip: Clip, sampler: DCVSRSampler, files: JobFiles, seg: Segment,
                    carry: CarriedState | None) -> tuple[np.ndarray, CarriedState | None]:
    """The model's output frames for the segment (in the model's encoding), and the state carried on."""
    segments, geo, colour = files.segments, files.geo, files.fmt.colour
    decoded = clip.frames(seg.start, seg.stop)
    frames = colour.to_model_frames(check_frame(f, seg.start + i, geo) for i, f in enumerate(decoded))
    following = segments[seg.index + 1].context if seg.index + 1 < len(segments) else 0
    return sampler.render_segment(seg, frames, geo, carry if seg.context else None, following)


def _write_segment(files: JobFiles, seg: Segment, out: np.ndarray,
                   frame_done: Callable[[], None]) -> dict[str, Any]:
    """Convert the model's output into the output's colour space and encode (or write) it."""
    fmt, folder = files.fmt, files.journal.folder
    out = fmt.colour.from_model_frames(out)
    return (_write_chunk(folder, fmt, seg, out, frame_done) if fmt.spec.kind == "video"
            else _write_images(folder, fmt.spec, seg, out, frame_done))


def _store_segment(files: JobFiles, seg: Segment, out: np.ndarray, new_carry: CarriedState | None,
                   frame_done: Callable[[], None]) -> None:
    """Write the segment, save the carried state, and record both in the journal."""
    journal = files.journal
    record = _write_segment(files, seg, out, frame_done)
    if new_carry is not None:
        name = f"carry_{seg.index + 1:05d}.safetensors"
        durable_write(journal.path(name), new_carry.save)
        journal.carry[seg.index + 1] = name
    journal.done[seg.index] = record
    old = journal.carry.pop(seg.index, None)
    journal.save()
    if old is not None:
        remove_path(journal.path(old))  # only the newest state is ever needed


def _write_chunk(folder: Path, fmt: ChunkFormat, seg: Segment, out: np.ndarray,
                 frame_done: Callable[[], None]) -> dict[str, Any]:
    name = f"chunk_{seg.index:05d}.mkv"
    path = folder / name
    tmp = path.with_name(name + ".tmp")
    remove_path(tmp)
    h, w = out.shape[1:3]
    when, picture = fmt.when, fmt.picture
    sink = VideoSink(tmp, CHUNK_MUXER, fmt.spec.video, w, h, picture.fps, picture.colour,
                     time_base=when.time_base, sample_aspect=picture.sample_aspect)
    stamps: list[int] = []
    try:
        for i, frame in enumerate(out):
            index = seg.start + i
            last = index + 1 == len(when.stamps)
            duration = None if last else int(when.stamps[index + 1] - when.stamps[index])
            stamps += sink.write(frame, int(when.stamps[index]), duration)
            frame_done()
        stamps += sink.close()
    except BaseException:
        sink.abort()
        remove_path(tmp)
        raise
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    sync_folder(path.parent)
    return {"chunk": name, "sha256": file_digest([path]), "frames": seg.frames, "delay": decode_delay(stamps)}


def _write_images(folder: Path, spec: OutputSpec, seg: Segment, out: np.ndarray,
                  frame_done: Callable[[], None]) -> dict[str, Any]:
    images = folder / _FRAMES
    h, w = out.shape[1:3]
    sink = ImageFolderSink(images, w, h, spec.image_codec, start=seg.start)
    for frame in out:
        sink.write(frame)
        frame_done()
    files = [frame_file(index, spec.image_codec) for index in range(seg.start, seg.stop)]
    for name in files:
        with open(images / name, "rb+") as fh:
            os.fsync(fh.fileno())
    sync_folder(images)
    return {"images": spec.image_codec, "frames": seg.frames, "files": [f"{_FRAMES}/{n}" for n in files],
            "sha256": file_digest([images / n for n in files])}


def finish_job(files: JobFiles, source: SourceInfo | None, overwrite: bool) -> None:
    """Join the finished segments' chunks (with the input's other streams) and move the result into place
    in one step; then remove the job's folder."""
    journal, segments, spec = files.journal, files.segments, files.fmt.spec
    when, picture = files.fmt.when, files.fmt.picture
    # The result is made on the output's file system, so the last step is a rename, wherever the work is.
    beside = _same_file_system(journal.folder, spec.path.parent)
    if spec.kind == "images":
        result = journal.path(_FRAMES)
        if not beside:
            copy = partial_name(spec.path)
            shutil.copytree(result, copy)
            result = copy
    else:
        chunks = [Chunk(journal.path(r["chunk"]), s.start, s.frames, r["delay"])
                  for s, r in zip(segments, (journal.done[s.index] for s in segments), strict=True)]
        result = journal.path("output" + spec.suffix) if beside else partial_name(spec.path)
        remove_path(result)
        kept = source.kept(spec.request.drop) if source is not None else ()
        request = spec.request
        if source is not None and not (request.chapters and request.metadata):
            source = _without(source, chapters=not request.chapters, metadata=not request.metadata)
        try:
            join_chunks(result, spec.suffix, chunks, when.stamps, when.time_base, picture.fps, source, kept)
            with open(result, "rb+") as fh:
                os.fsync(fh.fileno())
        except OSError as exc:
            remove_path(result)
            raise OutputError(f"{spec.path}: joining the chunks failed ({exc})") from exc
        except BaseException:
            remove_path(result)
            raise
    try:
        commit(result, spec.path, overwrite)
    except OSError as exc:
        remove_path(result)
        raise OutputError(f"{spec.path}: moving the result into place failed ({exc})") from exc
    remove_path(journal.folder)


def _same_file_system(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def _without(source: SourceInfo, chapters: bool, metadata: bool) -> SourceInfo:
    from dataclasses import replace

    return replace(source, chapters=() if chapters else source.chapters,
                   metadata={} if metadata else source.metadata,
                   video_metadata={} if metadata else source.video_metadata)
