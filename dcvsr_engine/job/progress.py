"""Progress a person can trust: one bar per job and one overall, moving per output frame.

A frame counts when it has been encoded (written to its chunk), so the count never runs
ahead of the output. Frames a resumed job finished earlier count as done from the start but
not in the rate, so frames/s and the ETA describe this run. `--progress json` prints one JSON
object per line on standard output instead, for scripts and render managers:

  {"event": "start", "job": 0, "jobs": 2, "input": ..., "output": ..., "frames": 240, "done": 0}
  {"event": "frame", "job": 0, "frame": 17, "frames": 240, "fps": 0.8, "eta_s": 278.7,
   "overall_frame": 17, "overall_frames": 480, "overall_eta_s": 578.7}
  {"event": "shots", "job": 0, "shots": 12, "running": 2, "done": 5, "retried": 1}   (--cluster)
  {"event": "end", "job": 0, "status": "done", "message": "..."}
  {"event": "summary", "done": 2, "failed": 0}
"""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO


class Progress:
    """Counts frames per job and overall; the subclasses show them. This base class shows nothing."""

    def __init__(self, jobs: int, total_frames: int) -> None:
        self.jobs, self.total = jobs, total_frames
        self.overall_done = 0       # frames of finished and current jobs done, this run or earlier
        self.job = -1
        self.frames = self.done = self.resumed = 0
        self._started = time.monotonic()
        self._run_frames = 0        # frames computed in this run, all jobs (for the overall rate)
        self.shot_counts: dict[str, int] = {}

    def start_job(self, job: int, source: str, output: str, frames: int, done: int) -> None:
        self.job, self.frames, self.done, self.resumed = job, frames, done, done
        self._job_started = time.monotonic()
        self.overall_done += done

    def frame_done(self) -> None:
        self.done += 1
        self.overall_done += 1
        self._run_frames += 1

    def shots(self, shots: int, running: int, done: int, retried: int) -> None:
        """A cluster job's shots (cluster/): how many, running now, done (this run or earlier), retried
        after a worker died."""
        self.shot_counts = {"shots": shots, "running": running, "done": done, "retried": retried}

    def end_job(self, status: str, message: str = "") -> None:
        if status != "done":  # the job's remaining frames will not come
            self.total -= self.frames - self.done

    def summary(self, done: int, failed: int) -> None:
        pass

    def close(self) -> None:
        pass

    # -- rates -------------------------------------------------------------------------------
    def fps(self) -> float:
        elapsed = time.monotonic() - self._job_started
        return (self.done - self.resumed) / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        fps = self.fps()
        return (self.frames - self.done) / fps if fps > 0 else None

    def overall_eta(self) -> float | None:
        elapsed = time.monotonic() - self._started
        rate = self._run_frames / elapsed if elapsed > 0 else 0.0
        return (self.total - self.overall_done) / rate if rate > 0 else None


class BarProgress(Progress):
    """Two tqdm bars on standard error: the overall count (with several jobs) and the current job."""

    def __init__(self, jobs: int, total_frames: int) -> None:
        super().__init__(jobs, total_frames)
        from tqdm import tqdm

        self._tqdm = tqdm
        fmt = ("{desc}: {percentage:3.0f}%|{bar}| {n}/{total} frames "
               "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")
        self._overall = (tqdm(total=total_frames, unit="frame", desc="all", dynamic_ncols=True, position=0,
                              bar_format=fmt) if jobs > 1 else None)
        self._bar = None
        self._fmt = fmt

    def start_job(self, job: int, source: str, output: str, frames: int, done: int) -> None:
        super().start_job(job, source, output, frames, done)
        desc = f"{job + 1}/{self.jobs}" if self.jobs > 1 else "frames"
        self._bar = self._tqdm(total=frames, initial=done, unit="frame", desc=desc, dynamic_ncols=True,
                               position=1 if self._overall else 0, leave=True, bar_format=self._fmt)
        if self._overall is not None and done:
            self._overall.update(done)

    def frame_done(self) -> None:
        super().frame_done()
        self._bar.update(1)
        if self._overall is not None:
            self._overall.update(1)

    def shots(self, shots: int, running: int, done: int, retried: int) -> None:
        super().shots(shots, running, done, retried)
        if self._bar is not None:
            retries = f", {retried} retried" if retried else ""
            self._bar.set_postfix_str(f"shots {done}/{shots} done, {running} running{retries}")

    def end_job(self, status: str, message: str = "") -> None:
        super().end_job(status, message)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._overall is not None:
            self._overall.total = self.total
            self._overall.refresh()

    def close(self) -> None:
        if self._overall is not None:
            self._overall.close()


class JsonProgress(Progress):
    """One JSON object per line (see the module's docstring)."""

    def __init__(self, jobs: int, total_frames: int, stream: TextIO | None = None) -> None:
        super().__init__(jobs, total_frames)
        self._out = stream or sys.stdout

    def _emit(self, **fields: object) -> None:
        self._out.write(json.dumps(fields) + "\n")
        self._out.flush()

    def start_job(self, job: int, source: str, output: str, frames: int, done: int) -> None:
        super().start_job(job, source, output, frames, done)
        self._emit(event="start", job=job, jobs=self.jobs, input=source, output=output, frames=frames,
                   done=done)

    def frame_done(self) -> None:
        super().frame_done()
        self._emit(event="frame", job=self.job, frame=self.done, frames=self.frames, fps=round(self.fps(), 4),
                   eta_s=_round(self.eta()), overall_frame=self.overall_done, overall_frames=self.total,
                   overall_eta_s=_round(self.overall_eta()))

    def shots(self, shots: int, running: int, done: int, retried: int) -> None:
        super().shots(shots, running, done, retried)
        self._emit(event="shots", job=self.job, **self.shot_counts)

    def end_job(self, status: str, message: str = "") -> None:
        super().end_job(status, message)
        self._emit(event="end", job=self.job, status=status, message=message)

    def summary(self, done: int, failed: int) -> None:
        self._emit(event="summary", done=done, failed=failed)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def make_progress(mode: str, quiet: bool, jobs: int, total_frames: int) -> Progress:
    """"json" -> JsonProgress; quiet -> no output; else bars."""
    if mode == "json":
        return JsonProgress(jobs, total_frames)
    if quiet:
        return Progress(jobs, total_frames)
    return BarProgress(jobs, total_frames)
