"""The driver: a job's shots handed to a Ray cluster's workers, longest first, then joined here.

A `ClusterRun` starts (or reaches) the cluster once per `dcvsr upscale` and keeps its workers for
every job of the command. For each job it opens the job's journal like a one-machine render
(job/render.py: same segments, same identity, same folder, or `--work-dir`), skips the shots whose
chunks the journal records and whose bytes still match their SHA-256, hands the others to the
workers through Ray's ActorPool (longest first), journals each shot as it comes back, in whatever
order, and joins the chunks in clip order by stream copy with the input's other streams.

Fault tolerance is Ray's: a worker whose process or node dies is restarted (max_restarts) and its
shot is run again on it (max_task_retries); the driver sees a retried shot as a second start.
A shot is journaled only when it is finished, so a job killed and started again redoes at most the
shots that were running.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import torch
from dcvsr_protocol.errors import ClusterError, DCVSRError

from ..colour import ModelColour
from ..io.clip import Clip
from ..io.probe import SourceInfo
from ..job.output import OutputSpec
from ..job.progress import Progress
from ..job.render import finish_job, job_failures, open_job
from ..sampler.pipeline import DCVSRSampler
from .address import ClusterAddress
from .connect import connect
from .shots import Shot, longest_first, plan_shots
from .worker import ShotJob, ShotWorker, dtype_name

MAX_RESTARTS = 3        # a worker process restarted after dying, at most this often
MAX_TASK_RETRIES = 3    # a shot run again on the restarted worker, at most this often
START_TIMEOUT_S = 600   # workers that cannot be placed (no free GPU) or load no model in this time fail
_POLL_S = 0.25          # how often progress is drained while shots render


class ClusterRun:
    """The cluster of one command: reached (or started) before the model loads, so an unreachable
    address fails at once; `start_workers` then gives each worker the model, and `render` runs a job."""

    def __init__(self, address: ClusterAddress, device: torch.device, threads: int, deinterlace: bool = False,
                 log: Callable[[str], None] = lambda text: print(f"dcvsr: {text}", file=sys.stderr)) -> None:
        self.address, self.threads, self.log, self.deinterlace = address, threads, log, deinterlace
        self._started = time.monotonic()
        gpu = device.type == "cuda"
        local_gpus = torch.cuda.device_count() if gpu else 0
        workers = address.workers or (local_gpus if gpu else max(1, (os.cpu_count() or 1) // threads))
        if address.url is None and gpu and workers > local_gpus:
            raise ClusterError(f"--cluster {address.describe()}: this machine has {local_gpus} GPU(s)")
        # A local CPU instance has room for exactly the workers asked for, whatever the cores.
        local_cpus = (os.cpu_count() or 1) if gpu else workers * threads
        self.ray = ray = connect(address, local_cpus, local_gpus)
        if address.url is not None:
            room = ray.cluster_resources()
            workers = int(room.get("GPU", 0)) if gpu else int(room.get("CPU", 0)) // threads
            if workers < 1:
                ray.shutdown()
                raise ClusterError(f"--cluster {address.url}: the cluster has no "
                                   f"{'GPU' if gpu else f'{threads} free CPUs'} for a worker "
                                   f"({', '.join(f'{k} {v:g}' for k, v in sorted(room.items()))})")
        self.count, self.gpu = workers, gpu
        self.workers: list[Any] = []

    def start_workers(self, model: Any) -> None:
        """Start the workers, each loading `model` (its folder) on the job's device type and dtype, and
        check they are alike."""
        from ray.util import ActorPool
        from ray.util.queue import Queue

        threads = self.threads
        self.want = {"device": model.device.type, "dtype": dtype_name(model.dtype), "threads": threads,
                     "model": model.fingerprint}
        # A CPU worker takes the job's --threads CPUs; a GPU worker one GPU (its CPU threads still set).
        need = {"num_gpus": 1, "num_cpus": 1} if self.gpu else {"num_cpus": threads}
        actor = self.ray.remote(ShotWorker).options(max_restarts=MAX_RESTARTS,
                                                     max_task_retries=MAX_TASK_RETRIES, **need)
        self.events = Queue(actor_options={"num_cpus": 0})
        self.workers = [actor.remote(str(model.path), model.device.type, self.want["dtype"], threads)
                        for _ in range(self.count)]
        self._check_workers(self.address)
        self.pool = ActorPool(self.workers)
        ready = time.monotonic() - self._started
        self.log(f"cluster: {len(self.workers)} workers on {self.address.describe()} ({self.want['device']}, "
                 f"{self.want['dtype']}, {threads} thread(s) each), ready in {ready:.1f} s")

    def _check_workers(self, address: ClusterAddress) -> None:
        """Refuse a cluster whose workers would not render alike (device type, dtype, threads, model)."""
        ray = self.ray
        try:
            found = ray.get([w.describe.remote() for w in self.workers], timeout=START_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise ClusterError(f"--cluster {address.describe()}: {len(self.workers)} workers could not start "
                               f"in {START_TIMEOUT_S} s (`ray status` shows what the cluster has)") from None
        except ray.exceptions.RayActorError as exc:
            cause = getattr(exc, "cause", None) or exc
            raise ClusterError(f"--cluster {address.describe()}: a worker failed to start: {cause}") from None
        for seen in found:
            problem = unlike(self.want, seen)
            if problem:
                raise ClusterError(f"--cluster {address.describe()}: {problem}")

    def close(self) -> None:
        self.ray.shutdown()

    def render(self, clip: Clip, source: SourceInfo | None, sampler: DCVSRSampler, spec: OutputSpec,
               cuts: list[int], progress: Progress, *, colour: ModelColour, overwrite: bool = False,
               restart: bool = False, work_dir: Path | None = None) -> bool:
        """Render one job on the cluster into `spec.path`; returns whether an earlier run's work was
        resumed. The same journal and chunks as job.render.render_job, so either continues the other."""
        files = open_job(clip, source, sampler, spec, cuts, restart=restart, colour=colour, work_dir=work_dir)
        journal = files.journal
        shots = plan_shots(files.segments)
        finished = {s.index for s in shots if all(k in journal.done for k in s.segments())}
        todo = longest_first([s for s in shots if s.index not in finished])
        earlier = sum(shots[i].frames for i in finished)
        progress.start_job(progress.job + 1, str(clip.source), str(spec.path), clip.num_frames, earlier)
        self.log(f"cluster: {len(shots)} shots, longest {max(s.frames for s in shots)} frames; "
                 f"{len(finished)} finished in an earlier run, {len(todo)} to render")
        job = self.ray.put(ShotJob(clip.source, self.deinterlace, sampler.settings, files))
        tally = _Tally(progress, len(shots), len(finished))
        began = time.monotonic()
        lost: str | None = None
        # Ray prints what its workers report (a worker died, a task is retried) on standard output,
        # where --progress json writes; during the job it goes to standard error instead.
        with redirect_stdout(sys.stderr), job_failures(files):
            for shot in todo:
                self.pool.submit(lambda worker, shot: worker.render_shot.remote(job, shot, self.events), shot)
            while self.pool.has_next():
                try:
                    records = self.pool.get_next_unordered(timeout=_POLL_S)
                except TimeoutError:
                    tally.update(self._events())
                    continue
                except self.ray.exceptions.RayTaskError as exc:
                    if isinstance(exc.cause, DCVSRError):
                        raise exc.cause from None
                    raise
                except self.ray.exceptions.RayActorError as exc:
                    lost = str(exc).splitlines()[0]
                    break
                tally.update(self._events())
                journal.done.update(records)
                journal.save()
                tally.finished(next(s for s in shots if s.first == records[0][0]))
            rendered = time.monotonic()
            if lost is None:
                finish_job(files, source, overwrite)
        if lost is not None:  # outside job_failures: the finished shots stay for the next run
            raise ClusterError(f"{spec.path}: a worker died more than {MAX_RESTARTS} times ({lost}); the "
                               "finished shots are kept, and the same command continues the job")
        joined = time.monotonic() - rendered
        self.log(f"cluster: rendered {len(todo)} shots in {rendered - began:.1f} s ({tally.retried} retried "
                 f"after a worker died), {len(finished)} from an earlier run; joined in {joined:.2f} s")
        return files.resumed

    def _events(self) -> list[Any]:
        waiting = self.events.qsize()
        return self.events.get_nowait_batch(waiting) if waiting else []


def unlike(want: dict[str, Any], seen: dict[str, Any]) -> str | None:
    """Why a worker (ShotWorker.describe()) would not render the job's bytes, or None when it would."""
    differs = {k: seen[k] for k in want if seen[k] != want[k]}
    if not differs:
        return None
    wanted = {k: want[k] for k in differs}
    return (f"the worker on {seen['node']} renders with {differs}, not the job's {wanted}: every worker "
            "must have the same device type, dtype, threads and model to join into one render")


class _Tally:
    """The workers' reports folded into the job's progress: each frame counted once, retries counted."""

    def __init__(self, progress: Progress, shots: int, done: int) -> None:
        self.progress, self.shots, self.done = progress, shots, done
        self.started: set[int] = set()
        self.running: set[int] = set()
        self.counted: dict[int, int] = {}   # shot -> frames shown so far (a retry does not show them twice)
        self.retried = 0
        self._show()

    def update(self, events: list[Any]) -> None:
        changed = False
        for event in events:
            shot = event[1]
            if event[0] == "start":
                self.retried += shot in self.started
                self.started.add(shot)
                self.running.add(shot)
                changed = True
            else:
                self._count(shot, event[2])
        if changed:
            self._show()

    def finished(self, shot: Shot) -> None:
        self._count(shot.index, shot.frames)
        self.running.discard(shot.index)
        self.done += 1
        self._show()

    def _count(self, shot: int, frames: int) -> None:
        for _ in range(frames - self.counted.get(shot, 0)):
            self.progress.frame_done()
        self.counted[shot] = max(frames, self.counted.get(shot, 0))

    def _show(self) -> None:
        self.progress.shots(self.shots, len(self.running), self.done, self.retried)
