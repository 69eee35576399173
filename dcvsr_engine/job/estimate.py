"""`--dry-run`: what each job would do, and how long, from a short measurement on the first input.

The measurement renders the first input's first frames (one temporal window, at most one
segment) as a chain start and times it; each job's estimate scales that time per frame by its
pixel count and frame count. It includes the model's warm-up, so it errs on the long side.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from ..sampler.pipeline import DCVSRSampler, check_frame
from ..sampler.segments import Segment
from .batch import Job, summary_table
from .output import OutputRequest, output_spec


def seconds_per_frame(job: Job, sampler: DCVSRSampler) -> float:
    """Time one window of `job`'s first frames (one segment at most), per frame."""
    clip = job.clip
    geo = sampler.plan.geometry(clip.height, clip.width)
    count = min(clip.num_frames, sampler.settings.tile_frames, sampler.settings.segment_frames)
    frames = np.stack([check_frame(f, i, geo) for i, f in enumerate(clip.frames(0, count))])
    started = time.perf_counter()
    sampler.render_segment(Segment(0, 0, count, 0), frames, geo)
    return (time.perf_counter() - started) / count


def dry_run(jobs: list[Job], sampler: DCVSRSampler, request: OutputRequest) -> None:
    """Print each job (input, output, size, codec, frames, estimated time) and the total; write nothing."""
    ready = [job for job in jobs if job.status == "pending"]
    if not ready:
        print(summary_table(jobs), file=sys.stderr)
        return
    first = ready[0]
    per_frame = seconds_per_frame(first, sampler)
    first_pixels = first.clip.width * first.clip.height
    total = 0.0
    lines = [f"dcvsr: dry run: measured {per_frame:.3f} s per frame on {first.source} "
             f"({first.clip.width}x{first.clip.height}); nothing is written"]
    for job in jobs:
        if job.status != "pending":
            lines.append(f"  {job.source}: would fail: {job.error}")
            continue
        clip = job.clip
        geo = sampler.plan.geometry(clip.height, clip.width)
        spec = output_spec(job.output_name, job.output, geo.out_w, geo.out_h, request)
        what = spec.video.codec + " " + spec.video.pix_fmt if spec.video else f"{spec.image_codec} images"
        estimate = per_frame * clip.num_frames * clip.width * clip.height / first_pixels
        total += estimate
        kept = ", ".join(s.describe() for s in job.info.kept(request.drop)) if job.info and spec.video else ""
        lines.append(f"  {job.source} -> {job.output}: {clip.width}x{clip.height} -> "
                     f"{geo.out_w}x{geo.out_h}, {clip.num_frames} frames, {what}, about {_duration(estimate)}"
                     + (f"; copies {kept}" if kept else ""))
    lines.append(f"dcvsr: dry run: {len(ready)} job(s), about {_duration(total)} in all")
    print("\n".join(lines), file=sys.stderr)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
