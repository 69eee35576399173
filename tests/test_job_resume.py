"""Resume: `dcvsr upscale` killed with SIGKILL at seeded random points, again and again, then run to
its end by the same command, writes the same bytes as a run that was never interrupted; the output
name never holds anything before the end.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

import pytest

from tests.media import output_bytes, write_av_file
from tests.test_cli import cli_env, command
from tests.test_job_files import flags

TIMEOUT = 240
FRAMES = 30  # five segments of 6 frames


def upscale(model: Path, source: Path, output: Path, *extra: str) -> list[str]:
    return command("upscale", source, "-o", output, *flags(model), "--segment-frames", "6", "--steps", "2",
                   *extra)


def journal_of(output: Path) -> Path:
    return output.with_name(f".{output.name}.dcvsr-job")


@pytest.mark.parametrize("output_name", ["out.mkv", "frames"])
def test_killed_again_and_again_finishes_bit_identical(tiny_model_dir, tmp_path, output_name):
    source = write_av_file(tmp_path / "src.mkv", FRAMES, (40, 32), start=1001)
    env = cli_env(tmp_path / "no_models")
    reference = tmp_path / "reference" / output_name
    resumed = tmp_path / "resumed" / output_name
    reference.parent.mkdir()
    resumed.parent.mkdir()
    done = subprocess.run(upscale(tiny_model_dir, source, reference, "--quiet"), env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr

    # Three kills, each once a seeded number of segments more is finished, plus a random moment:
    # mid-segment, mid-chunk, mid-journal update; then the same command runs to its end.
    rng = random.Random(f"resume-{output_name}")
    targets = sorted(rng.sample(range(0, 5), 3))
    for target in [*targets, None]:
        proc = subprocess.Popen(upscale(tiny_model_dir, source, resumed, "--quiet"), env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            if target is None:
                proc.wait(timeout=TIMEOUT)
                break
            deadline = time.monotonic() + TIMEOUT
            while finished(resumed) < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.4))
            assert proc.poll() is None, (f"finished before the kill planned after {target} segments",
                                         proc.stderr.read())
            proc.kill()
            proc.wait(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert not resumed.exists(), "the output name held something before the job ended"
    assert proc.returncode == 0, proc.stderr.read()
    assert not journal_of(resumed).exists(), "the journal outlived the finished job"
    assert output_bytes(resumed) == output_bytes(reference)


def test_a_batch_killed_mid_way_skips_its_finished_jobs_and_resumes_the_rest(tiny_model_dir, tmp_path):
    """Three inputs; SIGKILL once the second job has finished a segment (at a seeded moment after);
    the same command then skips the first, resumes the second, renders the third, and every output
    is byte-identical to an uninterrupted batch's."""
    sources = [write_av_file(tmp_path / f"{name}.mkv", 12, (40, 32), start=1001) for name in "abc"]
    env = cli_env(tmp_path / "no_models")
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    reference.mkdir()
    resumed.mkdir()

    def batch(folder: Path) -> list[str]:
        return command("upscale", *sources, "-o", folder, *flags(tiny_model_dir), "--segment-frames", "6",
                       "--steps", "2", "--quiet")

    done = subprocess.run(batch(reference), env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    proc = subprocess.Popen(batch(resumed), env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while finished(resumed / "b.mkv") < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(random.Random("batch").uniform(0.0, 0.3))
        assert proc.poll() is None, ("the batch ended before the kill", proc.stderr.read())
        proc.kill()
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (resumed / "a.mkv").exists() and not (resumed / "b.mkv").exists()
    assert journal_of(resumed / "b.mkv").exists() and not (resumed / "c.mkv").exists()

    again = subprocess.run(batch(resumed), env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=TIMEOUT)
    assert again.returncode == 0, again.stderr
    lines = again.stderr.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("input ")) + 1:]
    status = {row.split()[0]: row.split()[3] for row in table}  # the summary: input, output, frames, status
    assert status == {str(sources[0]): "skipped", str(sources[1]): "resumed", str(sources[2]): "done"}, \
        again.stderr
    for name in ("a.mkv", "b.mkv", "c.mkv"):
        assert (resumed / name).read_bytes() == (reference / name).read_bytes(), name
    assert not any(".dcvsr-" in p.name for p in resumed.iterdir())


def test_a_changed_command_starts_afresh(tiny_model_dir, tmp_path):
    """A journal left by another job (here: another seed) is not resumed: its work is discarded."""
    source = write_av_file(tmp_path / "src.mkv", 12, (40, 32))
    env = cli_env(tmp_path / "no_models")
    out = tmp_path / "out.mkv"
    proc = subprocess.Popen(upscale(tiny_model_dir, source, out, "--quiet", "--seed", "1"), env=env,
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + TIMEOUT
    journal = journal_of(out) / "journal.json"
    while proc.poll() is None and time.monotonic() < deadline and '"chunk"' not in _text(journal):
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=60)
    assert '"chunk"' in _text(journal), "the first run finished no segment before it was killed"
    again = subprocess.run(upscale(tiny_model_dir, source, out, "--seed", "2"), env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=TIMEOUT)
    assert again.returncode == 0, again.stderr
    assert "resumed" not in again.stderr
    fresh = tmp_path / "fresh.mkv"
    subprocess.run(upscale(tiny_model_dir, source, fresh, "--quiet", "--seed", "2"), env=env, cwd=tmp_path,
                   check=True, capture_output=True, timeout=TIMEOUT)
    assert out.read_bytes() == fresh.read_bytes()


def finished(output: Path) -> int:
    """How many segments the job's journal records as finished."""
    try:
        return len(json.loads((journal_of(output) / "journal.json").read_text())["done"])
    except (OSError, ValueError, KeyError):
        return 0


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_the_journal_keeps_finished_segments_whose_bytes_match_their_hash_in_any_order(tmp_path):
    """A cluster finishes shots in any order: segments 0 and 2 finished, 1 not, are both kept; a chunk
    changed on disk (same size, one bit) no longer counts and is rendered again."""
    from dcvsr_engine.job.journal import file_digest, open_journal

    out = tmp_path / "out.mkv"
    identity, cuts, layout = {"job": 1}, [2, 4], [[0, 2, 0], [2, 4, 0], [4, 6, 0], [6, 8, 3]]
    journal, resumed = open_journal(out, identity, cuts, layout, restart=False)
    assert not resumed
    for k in (0, 2, 3):
        chunk = journal.path(f"chunk_{k:05d}.mkv")
        chunk.write_bytes(bytes(range(100)))
        journal.done[k] = {"chunk": chunk.name, "sha256": file_digest([chunk]), "frames": 2}
    journal.save()
    again, resumed = open_journal(out, identity, cuts, layout, restart=False)
    assert resumed and sorted(again.done) == [0, 2, 3]

    changed = journal.path("chunk_00003.mkv")
    data = bytearray(changed.read_bytes())
    data[50] ^= 1
    changed.write_bytes(bytes(data))
    again, resumed = open_journal(out, identity, cuts, layout, restart=False)
    assert resumed and sorted(again.done) == [0, 2]
    # In order, a one-machine render starts at segment 1 (its chain starts there: no state is carried in).
    assert again.first_unfinished() == 1
