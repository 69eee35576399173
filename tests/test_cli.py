"""End to end: the real `dcvsr` command in a subprocess, on the tiny model and tiny clips.

Every process imports torch (seconds), so the commands that run to their end go a few at a time
in one module-scoped batch, and the checks on their results are separate tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from dcvsr_engine.io import open_clip, open_writer
from tests.conftest import TEST_PRESET, TORCH_THREADS

ROOT = Path(__file__).resolve().parents[1]
Result = subprocess.CompletedProcess
TIMEOUT = 180  # per command; a hung command fails its test instead of the whole session
PARALLEL = 3


def preset_flags(model: Path) -> list[str]:
    return ["--model", str(model), "--threads", str(TORCH_THREADS), "--steps", "2",
            "--tile-size", str(TEST_PRESET["tile_size"]), "--tile-frames", str(TEST_PRESET["tile_frames"]),
            "--segment-frames", str(TEST_PRESET["segment_frames"]),
            "--decode-chunk", str(TEST_PRESET["decode_chunk"]), "--scale", "2"]


def cli_env(model_dir: Path) -> dict[str, str]:
    """The test's environment with pinned threads and DCVSR_MODEL_DIR set (never the user's models)."""
    return {**os.environ, "OMP_NUM_THREADS": str(TORCH_THREADS), "DCVSR_MODEL_DIR": str(model_dir),
            "PYTHONPATH": str(ROOT)}


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "dcvsr_engine.cli", *map(str, args)]


def run(args: list[str], env: dict[str, str], cwd: Path) -> Result:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)


Step = tuple[str, list[str], dict[str, str]]  # name, command, environment


def run_all(chains: list[list[Step]], cwd: Path) -> dict[str, Result]:
    """Run the chains side by side, the steps of each in order; results by step name."""
    def run_chain(chain: list[Step]) -> list[tuple[str, Result]]:
        return [(name, run(args, env, cwd)) for name, args, env in chain]

    with ThreadPoolExecutor(PARALLEL) as pool:
        return {name: result for done in pool.map(run_chain, chains) for name, result in done}


def frames(count: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """A moving pattern with a little noise, float32 RGB in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for f in range(count):
        wave = np.sin((xx + 1.5 * f) / 3.0)[..., None] * np.cos(yy[..., None] / 4.0 + np.arange(3))
        noise = 0.05 * rng.standard_normal((height, width, 3))
        out.append(np.clip(0.5 + 0.4 * wave + noise, 0, 1).astype(np.float32))
    return out


def write_video(path: Path, clip: list[np.ndarray]) -> Path:
    height, width = clip[0].shape[:2]
    with open_writer(path, width, height, 24, codec="ffv1") as writer:
        for frame in clip:
            writer.write(frame)
    return path


def write_pngs(folder: Path, clip: list[np.ndarray]) -> Path:
    folder.mkdir()
    for i, frame in enumerate(clip):
        Image.fromarray(np.rint(frame * 255).astype(np.uint8)).save(folder / f"img_{i + 1:03d}.png")
    return folder


def leftovers(folder: Path) -> list[str]:
    """Temporary names the writer uses (.NAME.dcvsr-partial-*, .NAME.dcvsr-old-*)."""
    return sorted(p.name for p in folder.iterdir() if ".dcvsr-" in p.name)


def png_header(path: Path) -> tuple[int, int]:
    """(bit depth, colour type) from a PNG's IHDR chunk."""
    head = path.read_bytes()[:26]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return head[24], head[25]


# -- every command that runs to its end, in one batch ----------------------------------------------------

@dataclass
class Batch:
    work: Path
    results: dict[str, Result]
    outputs: dict[str, Path]  # the output path of each upscale


@pytest.fixture(scope="module")
def batch(tiny_model_dir, tmp_path_factory) -> Batch:
    """Good runs (a video to .mp4 with the progress bar, an image folder twice to PNG folders), the
    bad inputs of BAD_CASES, and the model commands; the slow ones are started first."""
    work = tmp_path_factory.mktemp("cli")
    flags = preset_flags(tiny_model_dir)
    video = write_video(work / "in.mkv", frames(5, 16, 20))
    pngs = write_pngs(work / "pngs", frames(4, 24, 24, seed=1))
    small = write_pngs(work / "small_ok", frames(3, 16, 16))
    (work / "empty").mkdir()
    (work / "clip.mp4").write_text("this is not a video\n")
    write_pngs(work / "tiny", frames(3, 4, 4))
    (work / "nan").mkdir()
    for i, frame in enumerate(frames(3, 16, 16)):
        if i == 1:
            frame[5, 7, 1] = np.nan
        tifffile.imwrite(work / "nan" / f"f{i}.tif", frame, photometric="rgb")
    (work / "existing.mp4").write_bytes(b"an earlier result")
    (work / "good").mkdir()
    (work / "no_models").mkdir()
    env, models_env = cli_env(work / "no_models"), cli_env(work / "models")

    upscales = {  # name: (input, output, arguments after the preset)
        "video": (video, work / "good" / "up.mp4", []),
        "png1": (pngs, work / "good" / "png1", ["--quiet"]),
        "png2": (pngs, work / "good" / "png2", ["--quiet"]),
        "nan in tiff": (work / "nan", work / "o_nan", ["--quiet"]),
        "empty folder": (work / "empty", work / "o_empty.mp4", ["--quiet"]),
        "text as mp4": (work / "clip.mp4", work / "o_text.mp4", ["--quiet"]),
        "too small": (work / "tiny", work / "o_small", ["--quiet"]),
        "missing output folder": (small, work / "missing" / "o.mp4", ["--quiet"]),
        "existing output": (small, work / "existing.mp4", ["--quiet"]),
        "bogus setting": (small, work / "o_bogus.mp4", ["--quiet", "--sap-gather", "bogus"]),
        "missing model": (small, work / "o_model.mp4", ["--quiet", "--model", str(work / "nowhere" / "m")]),
    }
    chains = [[("make-tiny", command("models", "make-tiny", work / "models" / "tiny"), models_env),
               ("list", command("models", "list"), models_env)]]
    for name, (src, dst, extra) in upscales.items():
        chains.append([(name, command("upscale", src, "-o", dst, *flags, *extra), env)])
    chains.append([("list nothing", command("models", "list"), env)])
    return Batch(work, run_all(chains, work), {name: dst for name, (_, dst, _) in upscales.items()})


def test_video_to_mp4(batch):
    result, out = batch.results["video"], batch.outputs["video"]
    assert result.returncode == 0, result.stderr
    clip = open_clip(out)
    assert (clip.kind, clip.num_frames, clip.width, clip.height) == ("video", 5, 40, 32)
    assert leftovers(out.parent) == []
    # The progress bar counts frames and reaches the end; the summary names the output.
    assert "5/5 frames" in result.stderr, result.stderr
    assert f"wrote {out} (5 frames" in result.stderr


def test_image_folder_to_16bit_png_folder(batch):
    result, out = batch.results["png1"], batch.outputs["png1"]
    assert result.returncode == 0, result.stderr
    assert "frames [" not in result.stderr, "--quiet still drew a progress bar"
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"frame_{i:06d}.png" for i in range(4)]
    assert all(png_header(out / name) == (16, 2) for name in files)  # 16-bit RGB
    clip = open_clip(out)
    assert (clip.num_frames, clip.width, clip.height) == (4, 48, 48)
    decoded = np.stack(list(clip.frames()))
    assert decoded.std() > 0.01  # a real picture, so bit identity below means something
    assert leftovers(out.parent) == []


def test_same_input_twice_is_bit_identical(batch):
    assert batch.results["png2"].returncode == 0, batch.results["png2"].stderr
    first, second = batch.outputs["png1"], batch.outputs["png2"]
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_make_tiny_then_list(batch):
    made, listed = batch.results["make-tiny"], batch.results["list"]
    assert made.returncode == 0, made.stderr
    assert "tiny random model" in made.stdout
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [f"tiny\t{batch.work / 'models' / 'tiny'}"]


def test_models_list_with_nothing_installed(batch):
    result = batch.results["list nothing"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"no models installed in {batch.work / 'no_models'}"


# -- bad input: a clear message, a non-zero exit, nothing written --------------------------------------

BAD_CASES = {  # name: (exit status, words the message must hold)
    "empty folder": (2, ["empty", "holds no images"]),
    "text as mp4": (2, ["clip.mp4", "not a readable video file"]),
    "too small": (2, ["4x4", "smaller than the minimum side of 8 pixels"]),
    "nan in tiff": (2, ["f1.tif", "NaN"]),
    "missing output folder": (2, ["output folder", "missing", "does not exist"]),
    "existing output": (2, ["existing.mp4", "already exists"]),
    "bogus setting": (2, ["--sap-gather", "invalid choice: 'bogus'"]),
    "missing model": (2, ["no model folder at", "nowhere"]),
}


@pytest.mark.parametrize("name", BAD_CASES)
def test_bad_input_fails_cleanly(batch, name):
    result, output = batch.results[name], batch.outputs[name]
    status, words = BAD_CASES[name]
    assert result.returncode == status, (result.returncode, result.stderr)
    for word in words:
        assert word in result.stderr, f"{name}: {word!r} not in stderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(("dcvsr: error: ", "dcvsr upscale: error: "))
    if name == "existing output":
        assert output.read_bytes() == b"an earlier result"
    else:
        assert not output.exists()
    assert not (batch.work / "missing").exists()
    assert leftovers(batch.work) == []


# -- interrupted runs -----------------------------------------------------------------------------------

def _default_sigint() -> None:
    # A child started from a shell's background job inherits SIGINT ignored, and Python then keeps
    # it ignored; restore the default so the child installs its KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_interrupt_leaves_nothing(tiny_model_dir, tmp_path):
    """SIGINT (video output) and SIGTERM (image folder output) mid-run, once the job has begun: a
    prompt exit with the CLI's status, no output, nothing but the job's journal."""
    video = write_video(tmp_path / "long.mkv", frames(96, 24, 24))
    env = cli_env(tmp_path / "no_models")
    runs = {}
    for sig, name in ((signal.SIGINT, "up.mp4"), (signal.SIGTERM, "up_frames")):
        folder = tmp_path / sig.name
        folder.mkdir()
        log = (tmp_path / f"{sig.name}.log").open("w")
        proc = subprocess.Popen(command("upscale", video, "-o", folder / name, *preset_flags(tiny_model_dir)),
                                env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=log,
                                preexec_fn=_default_sigint)
        runs[sig] = (proc, folder, log)
    try:
        deadline = time.monotonic() + TIMEOUT
        pending = dict(runs)
        sent = {}
        while pending and time.monotonic() < deadline:
            for sig, (proc, folder, _) in list(pending.items()):
                assert proc.poll() is None, f"{sig.name}: exited before it was interrupted"
                if leftovers(folder):  # the partial output exists: frames are on their way
                    time.sleep(0.5)
                    proc.send_signal(sig)
                    sent[sig] = time.monotonic()
                    del pending[sig]
            time.sleep(0.05)
        assert not pending, "the partial output never appeared"
        for sig, (proc, folder, log) in runs.items():
            status = proc.wait(timeout=30)
            took = time.monotonic() - sent[sig]
            log.close()
            stderr = (tmp_path / f"{sig.name}.log").read_text()
            assert status == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], (sig.name, status, stderr)
            assert took < 20, f"{sig.name}: took {took:.1f} s to exit"
            assert "wrote" not in stderr
            if sig == signal.SIGINT:
                assert "interrupted; no output was written" in stderr
            # Only the job's journal stays, so that the same command continues (tests/test_job_resume.py).
            left = [p.name for p in folder.iterdir()]
            assert len(left) == 1 and left[0].endswith(".dcvsr-job"), f"{sig.name}: left {left}"
            assert (folder / left[0] / "journal.json").is_file()
    finally:
        for proc, _, log in runs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
