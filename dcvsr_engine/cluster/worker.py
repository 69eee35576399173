"""The worker: one process holding one model, rendering whole shots into the job's shared folder.

Ray runs each ShotWorker as an actor (driver.py gives it its GPU or CPUs, and its restarts), so
the model is loaded once per worker process and reused for every shot of every job. A worker
writes a shot's chunks exactly as a one-machine render writes them (job/render.py's
render_segment_chunk), carrying TAP's state from segment to segment in memory, and reports back
the journal records; only the driver writes the journal. It renders with the thread count, device
type and dtype the driver gives it: Ray sets OMP_NUM_THREADS to a task's CPUs, and the thread
count is part of what makes the output bit-identical, so it is set here explicitly.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from dcvsr_protocol.errors import ClusterError
from dcvsr_protocol.settings import Settings

from ..io import open_clip
from ..io.clip import Clip
from ..job.render import JobFiles, render_segment_chunk
from ..model import load_model
from ..sampler.carry import CarriedState
from ..sampler.pipeline import DCVSRSampler
from .shots import Shot


class Events(Protocol):
    """Where a worker reports a shot's start and its frames (a ray.util.queue.Queue)."""

    def put(self, item: Any) -> None: ...


@dataclass(frozen=True)
class ShotJob:
    """What any worker needs to render any shot of one job (put in Ray's object store once per job)."""

    source: Path        # the input, on storage every node sees
    deinterlace: bool
    settings: Settings  # the clip's settings (footage=auto already decided by the driver)
    files: JobFiles     # segments, geometry, the job's folder and its chunk format

    @property
    def key(self) -> str:
        return self.files.journal.key


def dtype_name(dtype: torch.dtype) -> str:
    """torch.float16 -> "fp16": the --dtype spelling load_model takes."""
    return {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]


class ShotWorker:
    """One model on one worker process (a Ray actor: driver.py), rendering whole shots."""

    def __init__(self, model_path: str, device: str, dtype: str, threads: int) -> None:
        torch.set_num_threads(threads)
        self.model = load_model(model_path, device, dtype)
        self._job: tuple[str, Clip, DCVSRSampler] | None = None

    def describe(self) -> dict[str, Any]:
        """What must agree across the cluster for its shots to join into one render."""
        return {"device": self.model.device.type, "dtype": dtype_name(self.model.dtype),
                "threads": torch.get_num_threads(), "model": self.model.fingerprint, "node": platform.node()}

    def render_shot(self, job: ShotJob, shot: Shot, events: Events) -> list[tuple[int, dict[str, Any]]]:
        """Render `shot`'s segments in order into their chunks; returns (segment index, journal record)
        for each. Reports ("start", shot) and then ("frames", shot, frames encoded so far) to `events`."""
        clip, sampler = self._open(job)
        files = job.files
        events.put(("start", shot.index))
        encoded = 0

        def frame_done() -> None:
            nonlocal encoded
            encoded += 1
            events.put(("frames", shot.index, encoded))

        carry: CarriedState | None = None
        records = []
        for k in shot.segments():
            record, carry = render_segment_chunk(clip, sampler, files, files.segments[k], carry, frame_done)
            records.append((k, record))
        return records

    def _open(self, job: ShotJob) -> tuple[Clip, DCVSRSampler]:
        """The job's clip and sampler, opened on this worker's first shot of the job."""
        if self._job is None or self._job[0] != job.key:
            sampler = DCVSRSampler(self.model, job.settings)
            chain = job.files.journal.identity["chain"]
            if sampler.chain_key(job.files.geo) != chain:
                raise ClusterError(f"worker on {platform.node()}: its model or settings differ from the "
                                   "driver's, so its shots would not join into the same render")
            self._job = (job.key, open_clip(job.source, deinterlace=job.deinterlace), sampler)
        return self._job[1], self._job[2]
