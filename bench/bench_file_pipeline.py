"""The file pipeline's cost per frame next to the model's: is `dcvsr upscale` ever limited by decoding,
colour conversion, encoding or stream copy rather than by the model?

For 1080p and 2160p output it prints, per frame:
  - decode: the input (H.264, at half the output size: a 2x job, the larger input) decoded and
    converted to float RGB, the way a job reads it;
  - colour: float RGB -> Y'CbCr 4:2:0 at the output size (the conversion before each encode), and
    OpenColorIO's conversion into the model's encoding and back (dcvsr_engine/colour) for Rec.709
    (the identity), BT.2020 SDR, PQ and HLG input: wall and CPU time (this process's threads; the
    CPU figure does not grow when other processes share the machine);
  - encode: each output codec at the output size, with the thread settings the jobs use
    (libx264 also with 1, 2 and 4 threads, to show the fixed count is not the bottleneck);
  - stream copy: joining encoded chunks with a sound track into the final file;
  - the tiny model's time per frame (--steps 2, 2 frames, CPU), measured at 480x270 output and scaled
    by pixels to the output size (it is convolutional; a 1080p frame takes minutes on a busy CPU), and
    the SVD model's as
    an assumption (no GPU here): 4.6 s per 1080p frame on an H200, 4x that at 2160p;
  - the pipeline's share of the SVD time: decode + colour + the default encoder + stream copy, as if
    each ran after the model (serial);
  - the whole job (dcvsr_engine/job/render.py: decode, colour, the model, encode, journal, join) with
    a stand-in for the SVD model that sleeps its assumed time, as a GPU render leaves the CPU free:
    the job encodes segment k on a background thread while k + 1 renders, so what the pipeline adds
    to the model's time is measured directly (overlapped).
Then memory: the peak resident size of the encode-and-join pipeline for N and 4N frames (flat when
it streams).

    nice -n 10 .venv/bin/python bench/bench_file_pipeline.py [--frames 6] [--job-frames 6] [--job-only]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from dcvsr_protocol.colour import LIMITED, ColourTags

from dcvsr_engine.colour import ModelColour
from dcvsr_engine.io import open_clip
from dcvsr_engine.io.avframe import rgb_to_frame
from dcvsr_engine.io.codecs import video_format
from dcvsr_engine.io.colour import MATRIX_BT709
from dcvsr_engine.io.join import CHUNK_MUXER, Chunk, decode_delay, join_chunks
from dcvsr_engine.io.probe import probe, video_stream_index
from dcvsr_engine.io.video_sink import VideoSink

SVD_1080P_S = 4.6  # assumed seconds per 1080p output frame for the SVD model on an H200
SIZES = {"1080p": (1920, 1080), "2160p": (3840, 2160)}
# Input tags (transfer, primaries) whose OpenColorIO conversion is measured.
OCIO_CASES = {"Rec.709 SDR (identity)": (1, 1), "BT.2020 SDR": (14, 9), "BT.2020 PQ": (16, 9),
              "BT.2020 HLG": (18, 9)}
CODECS = [("libx264", None), ("libx265", None), ("prores_ks", "yuv422p10le"), ("ffv1", "yuv444p10le")]
BT709_LIMITED = ColourTags(MATRIX_BT709, 1, 1, LIMITED)


def frames_of(width: int, height: int, count: int) -> list[np.ndarray]:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        wave = np.sin((xx + 7 * i) / 37.0)[..., None] * np.cos(yy[..., None] / 23.0 + np.arange(3))
        out.append(np.clip(0.5 + 0.35 * wave + 0.03 * rng.standard_normal((height, width, 1)), 0, 1)
                   .astype(np.float32))
    return out


def encode_chunk(path: Path, frames: list[np.ndarray], codec: str, pix_fmt: str | None,
                 options: dict[str, str] | None = None) -> tuple[float, list[int]]:
    h, w = frames[0].shape[:2]
    fmt = video_format(".mkv", w, h, codec=codec, pix_fmt=pix_fmt, options=options)
    started = time.perf_counter()
    sink = VideoSink(path, CHUNK_MUXER, fmt, w, h, Fraction(24), BT709_LIMITED)
    stamps: list[int] = []
    for i, frame in enumerate(frames):
        stamps += sink.write(frame, i)
    stamps += sink.close()
    return time.perf_counter() - started, stamps


def write_input(path: Path, frames: list[np.ndarray]) -> None:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        sound = out.add_stream("aac", rate=48000, layout="stereo")
        for i, frame in enumerate(frames):
            f = rgb_to_frame(frame, "yuv420p", MATRIX_BT709, False)
            f.pts = i
            out.mux(video.encode(f))
        out.mux(video.encode(None))
        samples = np.zeros((2, 1024), np.float32)
        for i in range(len(frames) * 2):
            af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
            af.sample_rate, af.pts = 48000, i * 1024
            out.mux(sound.encode(af))
        out.mux(sound.encode(None))


TINY_SIZE = (480, 270)  # where the tiny model is timed


def tiny_model_seconds(width: int, height: int, frames: int) -> float:
    import torch

    from dcvsr_engine.model import load_model, make_tiny
    from dcvsr_engine.sampler.pipeline import DCVSRSampler
    from dcvsr_engine.sampler.segments import Segment

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        model = load_model(make_tiny(Path(tmp) / "tiny"), device="cpu", dtype="fp32")
        sampler = DCVSRSampler.open(model, None, steps=2, scale=2.0, segment_frames=frames,
                                    tile_frames=frames, decode_chunk=1)
        geo = sampler.plan.geometry(height // 2, width // 2)
        lr = np.stack(frames_of(width // 2, height // 2, frames))
        started = time.perf_counter()
        sampler.render_segment(Segment(0, 0, frames, 0), lr, geo)
        return (time.perf_counter() - started) / frames


def job_seconds(source: Path, out: Path, model_seconds: float, segment_frames: int
                ) -> tuple[float, float, float]:
    """(wall, model, tail) seconds of `dcvsr upscale`'s job code on `source` (x2, libx264) with the model
    replaced by a stand-in that sleeps `model_seconds` per output frame and returns its input enlarged;
    the tail is what follows the last render (its segment's encode, the join, the rename)."""
    import torch

    from dcvsr_engine.job.output import OutputRequest, output_spec
    from dcvsr_engine.job.progress import Progress
    from dcvsr_engine.job.render import render_job
    from dcvsr_engine.model import load_model, make_tiny
    from dcvsr_engine.sampler.pipeline import DCVSRSampler

    class SleepingModel(DCVSRSampler):
        slept = 0.0
        last = 0.0  # when the last render ended

        def render_segment(self, segment, frames, geo, carry=None, carry_frames=0, progress=None,
                           finish=None):
            time.sleep(model_seconds * len(frames))  # a GPU render: the CPU is free meanwhile
            SleepingModel.slept += model_seconds * len(frames)
            SleepingModel.last = time.perf_counter()
            return np.repeat(np.repeat(frames, 2, axis=1), 2, axis=2), None

    torch.set_num_threads(2)
    clip, info = open_clip(source, upright=False), probe(source, video_stream_index(source))
    with tempfile.TemporaryDirectory() as tmp:
        model = load_model(make_tiny(Path(tmp) / "tiny"), device="cpu", dtype="fp32")
        sampler = SleepingModel.open(model, None, steps=1, scale=2.0, segment_frames=segment_frames,
                                     tile_frames=segment_frames)
        spec = output_spec(out.name, out, clip.width * 2, clip.height * 2, OutputRequest())
        colour = ModelColour.for_clip(1, 1, clip.width, clip.height)
        started = time.perf_counter()
        render_job(clip, info, sampler, spec, [], Progress(1, clip.num_frames), colour=colour)
        ended = time.perf_counter()
        return ended - started, SleepingModel.slept, ended - SleepingModel.last


def ocio_seconds(width: int, height: int, repeat: int = 3) -> dict[str, tuple[float, float]]:
    """Per case, (wall, CPU) seconds per output frame of OpenColorIO's conversions: the input (half the
    output size) into the model's encoding, the output back."""
    small, large = frames_of(width // 2, height // 2, 1)[0], frames_of(width, height, 1)[0]
    out = {}
    for case, (transfer, primaries) in OCIO_CASES.items():
        colour = ModelColour.for_clip(transfer, primaries, width // 2, height // 2)
        colour.from_model(colour.to_model(small))  # warm up (processors, thread pool)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeat):
            colour.to_model(small)
            colour.from_model(large)
        out[case] = ((time.perf_counter() - wall) / repeat, (time.process_time() - cpu) / repeat)
    return out


def measure(name: str, width: int, height: int, count: int, job_frames: int, work: Path) -> None:
    svd = SVD_1080P_S * width * height / (1920 * 1080)
    if count:
        measure_steps(name, width, height, count, svd, work)
    job_source = work / f"job_{name}.mp4"
    write_input(job_source, frames_of(width // 2, height // 2, job_frames))
    wall, slept, tail = job_seconds(job_source, work / f"job_{name}.mkv", svd, max(1, job_frames // 3))
    steady = (wall - slept - tail) / job_frames
    print(f"  {name} whole job with an SVD stand-in ({job_frames} frames, 3 segments; each segment's libx264 "
          f"encode overlaps the next one's render): {wall / job_frames:.2f} s/frame;\n"
          f"    while rendering the pipeline adds {steady * 1000:.1f} ms/frame = "
          f"{100 * steady / svd:5.2f}% of the SVD model's time (target: under 10%),\n"
          f"    then once per job {tail:.2f} s (the last segment's encode, the join, the rename) = "
          f"{100 * tail / (svd * job_frames):5.2f}% over these "
          f"{job_frames} frames, {100 * tail / (svd * 1440):5.2f}% over a minute at 24 fps")


def measure_steps(name: str, width: int, height: int, count: int, svd: float, work: Path) -> None:
    frames = frames_of(width, height, count)
    source = work / f"in_{name}.mp4"
    write_input(source, frames_of(width // 2, height // 2, count))
    clip = open_clip(source)
    started = time.perf_counter()
    for _ in clip.frames():
        pass
    decode = (time.perf_counter() - started) / count
    started = time.perf_counter()
    for frame in frames:
        rgb_to_frame(frame, "yuv420p", MATRIX_BT709, False)
    colour = (time.perf_counter() - started) / count
    print(f"\n{name} output ({width}x{height}), {count} frames; SVD assumption {svd:.1f} s/frame")
    print(f"  decode {width // 2}x{height // 2} H.264 -> float RGB: {decode * 1000:8.1f} ms/frame")
    print(f"  colour float RGB -> Y'CbCr 4:2:0:            {colour * 1000:8.1f} ms/frame")
    ocio = ocio_seconds(width, height)
    for case, (wall, cpu) in ocio.items():
        print(f"  colour OpenColorIO, {case:<23} {wall * 1000:8.1f} ms/frame ({cpu * 1000:.1f} ms CPU) = "
              f"{100 * wall / svd:5.2f}% of SVD")
    encodes = {}
    for codec, pix_fmt in CODECS:
        seconds, _ = encode_chunk(work / f"{name}_{codec}.mkv", frames, codec, pix_fmt)
        encodes[codec] = seconds / count
        print(f"  encode {codec:<10} {pix_fmt or 'default':<12} (incl. colour): {encodes[codec] * 1000:8.1f} "
              f"ms/frame = {100 * encodes[codec] / svd:5.2f}% of SVD")
    for threads in (1, 2, 4):
        seconds, _ = encode_chunk(work / f"{name}_x264_{threads}.mkv", frames, "libx264", None,
                                  {"threads": str(threads)})
        print(f"  encode libx264 with {threads} thread(s):              "
              f"{seconds / count * 1000:8.1f} ms/frame")
    # Two chunks of the default encoder joined with the input's sound.
    half = count // 2
    chunks = []
    for k, (a, b) in enumerate(((0, half), (half, count))):
        path = work / f"{name}_chunk{k}.mkv"
        _, stamps = encode_chunk(path, frames[a:b], "libx264", None)
        chunks.append(Chunk(path, a, b - a, decode_delay(stamps)))
    info = probe(source, video_stream_index(source))
    started = time.perf_counter()
    join_chunks(work / f"{name}_joined.mp4", ".mp4", chunks, np.arange(count, dtype=np.int64),
                Fraction(1, 24), Fraction(24), info, info.kept(frozenset()))
    copy = (time.perf_counter() - started) / count
    print(f"  stream copy (join chunks + sound):         {copy * 1000:8.1f} ms/frame")
    tiny = tiny_model_seconds(*TINY_SIZE, 2) * width * height / (TINY_SIZE[0] * TINY_SIZE[1])
    print(f"  tiny model (CPU, 2 steps, 2 threads; timed at {TINY_SIZE[0]}x{TINY_SIZE[1]}, scaled by "
          f"pixels): {tiny * 1000:8.1f} ms/frame")
    pipeline = decode + encodes["libx264"] + copy
    print(f"  pipeline (decode + colour + libx264 + copy): {pipeline * 1000:7.1f} ms/frame = "
          f"{100 * pipeline / svd:5.2f}% of the SVD model's time (target: under 10%)")
    hdr = pipeline + ocio["BT.2020 PQ"][0]
    print(f"  the same for PQ input (+ OpenColorIO):      {hdr * 1000:7.1f} ms/frame = "
          f"{100 * hdr / svd:5.2f}% of the SVD model's time")


MEMORY_CHILD = """
import resource, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from bench.bench_file_pipeline import frames_of, encode_chunk
from dcvsr_engine.io.join import Chunk, decode_delay, join_chunks
import numpy as np
from fractions import Fraction
count = int(sys.argv[1])
frame = frames_of(1280, 720, 1)[0]
with tempfile.TemporaryDirectory() as tmp:
    chunks = []
    for k in range(count // 24):
        path = Path(tmp) / f"c{k}.mkv"
        _, stamps = encode_chunk(path, [frame] * 24, "libx264", None)
        chunks.append(Chunk(path, 24 * k, 24, decode_delay(stamps)))
    join_chunks(Path(tmp) / "out.mkv", ".mkv", chunks, np.arange(count, dtype=np.int64), Fraction(1, 24),
                Fraction(24), None, ())
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def memory(count: int) -> None:
    root = str(Path(__file__).resolve().parents[1])
    peaks = []
    for n in (count, 4 * count):
        out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(n), root], capture_output=True,
                             text=True, check=True)
        peaks.append(int(out.stdout.strip().splitlines()[-1]) / 1024)
    print(f"\nmemory: encode in 24-frame chunks + join, 720p: {count} frames peak {peaks[0]:.0f} MiB, "
          f"{4 * count} frames peak {peaks[1]:.0f} MiB (x{peaks[1] / peaks[0]:.2f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--memory-frames", type=int, default=48)
    parser.add_argument("--job-frames", type=int, default=6,
                        help="frames of the whole-job measurement (it sleeps the SVD time for each)")
    parser.add_argument("--sizes", default=",".join(SIZES), help="which output sizes: 1080p, 2160p")
    parser.add_argument("--job-only", action="store_true", help="only the whole-job measurement")
    args = parser.parse_args()
    print(f"file pipeline cost per frame (PyAV {av.__version__}, FFmpeg {av.ffmpeg_version_info}); "
          f"{resource.getpagesize()} B pages")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sizes.split(","):
            measure(name, *SIZES[name], 0 if args.job_only else args.frames, args.job_frames, Path(tmp))
    if not args.job_only:
        memory(args.memory_frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
