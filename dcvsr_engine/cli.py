"""The `dcvsr` command: upscale clips, and manage models."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from dcvsr_protocol.errors import DCVSRError
from dcvsr_protocol.settings import DEFAULT_QUALITY, QUALITIES, add_arguments, overrides_from_args

from .colour import cli as colour_cli
from .io import scenes
from .io.codecs import VIDEO_EXTENSIONS
from .job.output import add_output_arguments
from .model.catalogue import running_defaults
from .model.layout import NANO
from .model.quality import model_for


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGHUP, _hung_up)
    try:
        return args.func(args)
    except DCVSRError as exc:
        print(f"dcvsr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dcvsr: interrupted; no output was written (the same command continues the job)",
              file=sys.stderr)
        return 130


def _terminated(*_) -> None:
    """SIGTERM unwinds like Ctrl-C, so partial outputs are removed on the way out."""
    print("dcvsr: terminated; no output was written", file=sys.stderr)
    sys.exit(143)


def _hung_up(*_) -> None:
    """SIGHUP (the terminal or ssh session closed) unwinds like SIGTERM: partial outputs are removed."""
    print("dcvsr: hung up; no output was written", file=sys.stderr)
    sys.exit(129)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dcvsr", description="DC-VSR video super-resolution")
    sub = parser.add_subparsers(dest="command", required=True)
    # The help shows the defaults of the model that would run; reading its dcvsr.json imports no torch.
    default_name, model_defaults = running_defaults()

    up = sub.add_parser("upscale", help="upscale video files or folders of images",
                        description="Upscale INPUT (a video file or a folder of images) into OUTPUT: a video "
                        f"file when it ends in {', '.join(VIDEO_EXTENSIONS)}, a folder of 16-bit images "
                        "when it has no suffix or ends in '/'. With several inputs (files, folders of "
                        "videos, globs) OUTPUT is a folder and each input gets its own output there. A job "
                        "interrupted in any way continues where it stopped when the same command runs "
                        "again.")
    up.add_argument("inputs", nargs="+", metavar="INPUT")
    up.add_argument("-o", "--output", required=True, metavar="OUTPUT")
    up.add_argument("-y", "--overwrite", action="store_true",
                    help="replace an existing output (never the input)")
    up.add_argument("--allow-truncated", action="store_true",
                    help="upscale the frames a truncated video holds (a warning) instead of refusing it")
    up.add_argument("--model", help="a model folder or an installed model's name (default: dc-vsr, or the "
                    "shipped nano model when dc-vsr is not installed)")
    up.add_argument("--quality", choices=QUALITIES, default=DEFAULT_QUALITY,
                    help="standard (default): the model's standard preset, a few steps that add detail to "
                    "its restored upscale; full: the model's full sampling; preview: the model's fast "
                    "preset, on the nano CPU model unless --model is given")
    up.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    up.add_argument("--dtype", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    up.add_argument("--threads", type=int, help="torch CPU threads (part of what makes output bit-identical)")
    add_output_arguments(up)
    up.add_argument("--deinterlace", action="store_true",
                    help="deinterlace interlaced input (FFmpeg's estdif, field by field); without it "
                    "interlaced input is refused")
    up.add_argument("--restart", action="store_true",
                    help="discard the journal of an earlier interrupted run of this job and start afresh")
    up.add_argument("--dry-run", action="store_true",
                    help="check every input and output, print what would be done with an estimated time "
                    "(measured on a few frames of the first input), and write nothing")
    up.add_argument("--cluster", nargs="?", const="local", metavar="ADDRESS",
                    help="render the shots in parallel on Ray (pip install 'dcvsr[cluster]'): local (the "
                    "default) or local:N starts N workers on this machine, ray://HOST:PORT uses a running "
                    "cluster; the output is bit-identical to a render without --cluster (docs/cluster.md)")
    up.add_argument("--work-dir", type=Path, metavar="DIR",
                    help="where the job's journal and chunks live (default: a hidden folder beside the "
                    "output); with a multi-machine --cluster it must be storage every node sees")
    up.add_argument("--quiet", action="store_true", help="no progress bars")
    up.add_argument("--progress", choices=("bar", "json"), default="bar",
                    help="json: one JSON object per line on standard output, for scripts and render managers")
    colour_cli.add_arguments(up)
    scenes.add_arguments(up)
    add_arguments(up, model_defaults, default_name)
    up.set_defaults(func=run_upscale)

    models = sub.add_parser("models", help="install and list models")
    msub = models.add_subparsers(dest="models_command", required=True)
    pull = msub.add_parser("pull", help="download published weights and lay them out as a model folder")
    pull.add_argument("name", nargs="?", default="dc-vsr")
    pull.set_defaults(func=run_pull)
    tiny = msub.add_parser("make-tiny", help="write a tiny random model (tests and pipeline demos only)")
    tiny.add_argument("dest", type=Path)
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--latent", choices=("vae", "space_to_depth"), default="vae",
                      help="latent space: a tiny random VAE (default), or a weightless 4x space-to-depth")
    tiny.set_defaults(func=run_make_tiny)
    listing = msub.add_parser("list", help="list the models this installation can run, with where each lives")
    listing.set_defaults(func=run_list)

    ev = sub.add_parser("eval", help="measure the sampler and classical baselines against ground truth",
                        description="Downscale each ground-truth clip, upscale it with bicubic, Lanczos and "
                        "each sampler variant, and report PSNR/SSIM on Y, warping error, tOF, the seam ratio "
                        "and high-frequency energy (report.md, crops.png, results.json in --report).")
    ev.add_argument("--hr", nargs="+", required=True, type=Path, metavar="CLIP_OR_FOLDER",
                    help="ground-truth clips (video files, image folders) or folders of clips")
    ev.add_argument("--report", type=Path, required=True, metavar="DIR", help="folder for the report")
    ev.add_argument("--degrade", default="clean", choices=("clean", "realistic"))
    ev.add_argument("--variants", default="full",
                    help="comma-separated: full (the model's defaults), no-sap, no-tap, no-dssag (full with "
                    "one mechanism off), standard, preview (the model's presets); none for baselines only")
    ev.add_argument("--frames", type=int, help="use at most this many frames of each clip")
    ev.add_argument("--model", help="a model folder or an installed model's name (default: dc-vsr, or the "
                    "shipped nano model when dc-vsr is not installed)")
    ev.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    ev.add_argument("--dtype", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    ev.add_argument("--threads", type=int, help="torch and OpenCV CPU threads")
    add_arguments(ev, model_defaults, default_name)
    ev.set_defaults(func=run_eval)

    from dcvsr_install.cli import add_parsers as add_install_parsers

    from .server.cli import add_parsers
    from .training.cli import add_parser as add_train_parser

    add_parsers(sub)
    add_train_parser(sub)
    add_install_parsers(sub)
    colour_cli.add_parser(sub)
    return parser


def run_upscale(args: argparse.Namespace) -> int:
    from .io.input_checks import check_not_input, check_truncation
    from .job.batch import check_job, fail, finished_earlier, plan_jobs, summary_table
    from .job.output import output_request

    # Outputs and inputs are checked before torch is imported (seconds), so these mistakes fail at once.
    request = output_request(args)
    jobs = plan_jobs(args.inputs, args.output, request)
    single = len(jobs) == 1
    colours = {}  # each job's colour conversion (OpenColorIO), checked here like the rest
    for job in jobs:
        if not single and finished_earlier(job, args.overwrite):
            continue  # the same batch again, after an interruption: its finished jobs are not redone
        try:
            check_not_input(job.source, job.output)
            check_job(job, request, args.overwrite, args.deinterlace)
            if job.info is not None and (warning := check_truncation(
                    job.source, job.clip.num_frames, job.clip.fps, job.info.pts, args.allow_truncated)):
                print(f"dcvsr: warning: {warning}", file=sys.stderr)
            colours[job.source] = colour_cli.job_colour(job.clip, args)
        except DCVSRError as exc:
            if single:
                raise
            fail(job, exc)
    ready = [job for job in jobs if job.status == "pending"]
    if not ready:
        print(summary_table(jobs), file=sys.stderr)
        return 0 if all(job.status == "skipped" for job in jobs) else 2
    if args.cluster and not args.dry_run:
        from .cluster.address import parse_cluster
        from .cluster.connect import import_ray

        address = parse_cluster(args.cluster)
        import_ray()  # a missing Ray is named before the model loads and before anything is written

    import torch

    from .model import load_model
    from .sampler.pipeline import DCVSRSampler

    if args.threads:
        torch.set_num_threads(args.threads)
    cluster = None
    if args.cluster and not args.dry_run:
        from .cluster.driver import ClusterRun
        from .model.devices import pick_device

        # Reached before the model loads (which can take a minute), so a bad address fails at once.
        cluster = ClusterRun(address, pick_device(args.device), torch.get_num_threads(), args.deinterlace)
    try:
        model = load_model(model_for(args.model, args.quality), args.device, args.dtype)
        sampler = DCVSRSampler.open(model, args.quality, **overrides_from_args(args))
        _model_notes(model, args)
        if args.dry_run:
            from .job.estimate import dry_run

            dry_run(jobs, sampler, request)
            return 0 if all(job.status in ("pending", "skipped") for job in jobs) else 2
        if cluster is not None:
            cluster.start_workers(model)
        _render_all(jobs, ready, sampler, request, args, colours, cluster)
    finally:
        if cluster is not None:
            cluster.close()
    if not single:
        print(summary_table(jobs), file=sys.stderr)
    return 0 if all(job.status in ("done", "resumed", "skipped") for job in jobs) else 2


def _render_all(jobs: list, ready: list, sampler, request, args: argparse.Namespace, colours: dict,
                cluster=None) -> None:
    from .job.batch import fail
    from .job.output import output_spec
    from .job.progress import make_progress
    from .job.render import render_job
    from .sampler.memory import available_memory, fit_segments
    from .sampler.pipeline import DCVSRSampler, check_frame

    single = len(jobs) == 1
    progress = make_progress(args.progress, args.quiet, len(jobs), sum(job.clip.num_frames for job in ready))
    model = sampler.model
    dtype = str(model.dtype).removeprefix("torch.")
    try:
        for job in ready:
            clip = job.clip
            started = time.monotonic()
            try:
                # footage=auto is decided per clip, from frames that depend only on its length.
                clip_sampler = sampler.for_clip(
                    lambda i, clip=clip: check_frame(next(clip.frames(i, i + 1)), i, None), clip.num_frames,
                    lambda text: print(f"dcvsr: {text}", file=sys.stderr))
                geo = clip_sampler.plan.geometry(clip.height, clip.width)
                # Refuse what would not fit before spending it (a default segment length is shortened).
                fitted, _ = fit_segments(model, clip_sampler.settings, geo, available_memory(),
                                         clip_itemsize=4, chosen=args.segment_frames is not None)
                if fitted is not clip_sampler.settings:
                    print(f"dcvsr: {job.source}: segments of {fitted.segment_frames} frames (the default "
                          f"{clip_sampler.settings.segment_frames} needs more memory than allowed)",
                          file=sys.stderr)
                    clip_sampler = DCVSRSampler(model, fitted)
                spec = output_spec(job.output_name, job.output, geo.out_w, geo.out_h, request)
                print(f"dcvsr: {job.source}: {clip.width}x{clip.height} -> {geo.out_w}x{geo.out_h}, "
                      f"{clip.num_frames} frames, model {model.path} on {model.device} ({dtype})",
                      file=sys.stderr)
                colour, cuts = colours[job.source], scenes.from_args(clip, args)
                for line in [*colour.describe(spec.video), cuts.describe(clip)]:
                    print(f"dcvsr: {line}", file=sys.stderr)
                render = cluster.render if cluster is not None else render_job
                resumed = render(clip, job.info, clip_sampler, spec, list(cuts.cuts), progress,
                                 overwrite=args.overwrite, restart=args.restart, colour=colour,
                                 work_dir=args.work_dir)
            except DCVSRError as exc:
                progress.end_job("failed", str(exc))
                if single:
                    raise
                fail(job, exc)
                print(f"dcvsr: error: {exc}", file=sys.stderr)
                continue
            job.seconds = time.monotonic() - started
            job.status = "resumed" if resumed else "done"
            progress.end_job("done")
            print(f"dcvsr: wrote {job.output} ({clip.num_frames} frames in {job.seconds:.1f} s, "
                  f"{job.seconds / clip.num_frames:.2f} s/frame{', resumed' if resumed else ''})",
                  file=sys.stderr)
    finally:
        progress.summary(sum(j.status in ("done", "resumed") for j in jobs),
                         sum(j.status == "failed" for j in jobs))
        progress.close()


def _model_notes(model, args: argparse.Namespace) -> None:
    if model.info.get("name") == "tiny":
        print("dcvsr: note: the tiny model is random; its output only demonstrates the pipeline",
              file=sys.stderr)
    elif model.info.get("name") == NANO and not args.model and args.quality != "preview":
        print("dcvsr: note: no DC-VSR weights are installed, so this runs the small nano model shipped with "
              "dcvsr (`dcvsr models pull dc-vsr` where a GPU is available for the full model)",
              file=sys.stderr)


def run_eval(args: argparse.Namespace) -> int:
    from .evaluation.cli import run

    return run(args)


def run_pull(args: argparse.Namespace) -> int:
    from .model import pull

    print(f"dcvsr: installed {args.name} at {pull(args.name)}")
    return 0


def run_make_tiny(args: argparse.Namespace) -> int:
    from .model import make_tiny

    path = make_tiny(args.dest, seed=args.seed, latent=args.latent)
    print(f"dcvsr: wrote a tiny random model to {path} (its output only demonstrates the pipeline)")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from .model.catalogue import human_size, models
    from .model.layout import models_dir

    found = models()
    for entry in found:
        mark = " (default)" if entry.is_default else ""
        print(f"{entry.name}{mark}\t{entry.origin}\t{human_size(entry.size)}\t{entry.path}")
        if entry.problem:
            print(f"  cannot run: {entry.problem}")
    if not any(e.origin == "installed" for e in found):
        print(f"no models installed in {models_dir()} (`dcvsr models pull dc-vsr` installs the published "
              "one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
