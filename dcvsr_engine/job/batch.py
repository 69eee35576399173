"""Several inputs in one command: what each job is, checked before any rendering, and the summary.

Inputs are files, folders and globs. A folder holding images is one image-sequence input; a
folder holding no images contributes its video files. With one input, `-o` names the output;
with several, `-o` is a folder and each input gets `-o/<input name><suffix>` (the suffix of
the preset, else the input's own when it is a video suffix, else .mkv). One job's failure is
reported and the others still run.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from dcvsr_protocol.errors import DCVSRError, InputError, OutputError

from ..io import check_output, open_clip
from ..io.clip import Clip
from ..io.codecs import PRESETS, VIDEO_EXTENSIONS, check_sample_aspect, is_video_path
from ..io.images import is_image_path
from ..io.join import check_streams_fit
from ..io.probe import SourceInfo, probe, video_stream_index
from .journal import job_folder
from .output import OutputRequest, check_request


@dataclass
class Job:
    """One input -> one output. `error` is set when a check or the render failed."""

    source: Path
    output: Path
    output_name: str  # as typed or derived (a trailing '/' marks a folder of images)
    clip: Clip | None = None
    info: SourceInfo | None = None
    error: str | None = None
    status: str = "pending"  # pending, done, resumed, failed, skipped
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def expand_inputs(raw: list[str]) -> list[Path]:
    """Files and folders as given; globs (when no such path exists) expanded in sorted order; folders of
    videos replaced by their videos. A pattern that matches nothing is an InputError."""
    found: list[Path] = []
    for item in raw:
        path = Path(item)
        if not path.exists() and glob.has_magic(item):
            matches = sorted(glob.glob(item))
            if not matches:
                raise InputError(f"{item}: no file matches this pattern")
            found += [Path(m) for m in matches]
        elif path.is_dir() and not any(is_image_path(p) for p in path.iterdir() if p.is_file()):
            videos = sorted(p for p in path.iterdir() if p.is_file() and is_video_path(p.suffix))
            if not videos:
                raise InputError(f"{path}: the folder holds no images and no "
                                 f"{', '.join(VIDEO_EXTENSIONS)} files")
            found += videos
        else:
            found.append(path)
    return found


def plan_jobs(raw_inputs: list[str], output: str, request: OutputRequest) -> list[Job]:
    inputs = expand_inputs(raw_inputs)
    if len(raw_inputs) == 1 and inputs == [Path(raw_inputs[0])]:  # one file or one image folder
        return [Job(inputs[0], Path(output), output)]
    folder = Path(output)
    if folder.suffix and is_video_path(folder.suffix):
        raise OutputError(f"{output}: with several inputs, -o names a folder for their outputs")
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} does not exist (create it first)")
    names = [_output_name(p, request) for p in inputs]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise OutputError(f"several inputs would write {sorted(dupes)[0]} in {folder}; rename or split them")
    return [Job(p, folder / n.rstrip("/"), os.path.join(output, n))
            for p, n in zip(inputs, names, strict=True)]


def _output_name(source: Path, request: OutputRequest) -> str:
    if request.codec in ("png", "tiff"):
        return source.stem + "/"
    if request.preset:
        return source.stem + PRESETS[request.preset].suffix
    return source.stem + (source.suffix.lower() if is_video_path(source.suffix) else ".mkv")


def check_job(job: Job, request: OutputRequest, overwrite: bool, deinterlace: bool) -> None:
    """Everything that can be checked before the model is loaded; raises a DCVSRError."""
    kind = check_request(job.output_name, request)
    check_output(job.output_name if job.output_name.endswith("/") else job.output, overwrite)
    # A video output carries a display rotation as its tag; images have none, so they are turned.
    job.clip = open_clip(job.source, deinterlace=deinterlace, upright=kind != "video")
    if job.clip.kind != "video":
        return
    job.info = probe(job.source, video_stream_index(job.source))
    if job.info.interlaced and not deinterlace:
        raise InputError(f"{job.source}: the video is interlaced ({job.info.field_order}); the model needs "
                         "whole frames: deinterlace it first, or pass --deinterlace")
    if kind == "video":
        check_sample_aspect(job.output.suffix, request.codec, request.preset, job.info.sample_aspect)
        check_streams_fit(job.source, job.output.suffix.lower(), job.info.kept(request.drop))


def finished_earlier(job: Job, overwrite: bool) -> bool:
    """Whether a batch job's output is already there with no journal beside it (a job of an earlier run
    of the batch that finished): then it is marked skipped. `-y` redoes it instead."""
    if overwrite or not job.output.exists() or job_folder(job.output).exists():
        return False
    job.status = "skipped"
    job.notes.append("the output exists (an earlier run finished it; -y redoes it)")
    return True


def fail(job: Job, exc: DCVSRError) -> None:
    job.status, job.error = "failed", str(exc)


def summary_table(jobs: list[Job]) -> str:
    """A plain-text table: input, output, frames, status, time, message."""
    rows = [("input", "output", "frames", "status", "time", "message")]
    for job in jobs:
        frames = str(job.clip.num_frames) if job.clip is not None else "-"
        rows.append((str(job.source), str(job.output), frames, job.status, f"{job.seconds:.1f} s",
                     job.error or "; ".join(job.notes)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5]
                     for r in rows).rstrip()
