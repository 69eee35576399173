"""The expected speed-up of `dcvsr upscale --cluster` on N GPUs, on paper, for a feature film's shots.

Model: a two-hour feature at 24 fps cut into shots whose lengths are lognormal (film scholars'
measurements of shot lengths fit a lognormal well), here 1500 shots with a mean of 4.8 s and a
log standard deviation of 0.9 (median about 3.2 s); a fixed seed draws them. A shot's render time
is proportional to its frames (one chain: the sampler's cost per frame, plus the carried context
frames each later segment re-enters, which the figures include), and the driver hands shots out
longest first to whichever worker is free (Graham's LPT rule, what Ray's ActorPool does with the
sorted list). The job's wall time is then the last worker's finish, which is at least both the
total divided by N and the longest shot; the speed-up is the total over that. The join (stream
copy) and the workers' model loads are left out: bench/bench_cluster.py measures them.

    python scripts/cluster_speedup.py [--shots 1500] [--mean-s 4.8] [--sigma 0.9] [--workers 8,64]
                                      [--long-take-s 360]
"""

from __future__ import annotations

import argparse
import heapq
import sys

import numpy as np

FPS = 24
# The paper's settings (dcvsr_protocol/settings.py): 70-frame segments; each later segment of a shot
# re-enters the 7 frames two 14-frame windows overlapping by half share.
SEGMENT_FRAMES = 70
CONTEXT = 7


def shot_lengths(count: int, mean_s: float, sigma: float, seed: int) -> np.ndarray:
    """Lognormal shot lengths in frames (at least one), with the given mean in seconds."""
    mu = np.log(mean_s * FPS) - sigma ** 2 / 2
    return np.maximum(1, np.round(np.random.default_rng(seed).lognormal(mu, sigma, count))).astype(int)


def cost(frames: np.ndarray) -> np.ndarray:
    """Frames a worker renders for each shot: its own plus the context each later segment re-enters."""
    return frames + CONTEXT * np.maximum(0, -(-frames // SEGMENT_FRAMES) - 1)


def longest_first_makespan(costs: np.ndarray, workers: int) -> float:
    finish = [0.0] * workers
    for c in sorted(costs, reverse=True):
        heapq.heappush(finish, heapq.heappop(finish) + c)
    return max(finish)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=1500)
    parser.add_argument("--mean-s", type=float, default=4.8, help="mean shot length in seconds")
    parser.add_argument("--sigma", type=float, default=0.9, help="standard deviation of log(length)")
    parser.add_argument("--workers", default="8,64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--long-take-s", type=float, default=0.0,
                        help="replace the last shot by one unbroken take this long (a shot stays one chain)")
    args = parser.parse_args()
    frames = shot_lengths(args.shots, args.mean_s, args.sigma, args.seed)
    if args.long_take_s:
        frames[-1] = round(args.long_take_s * FPS)
    costs = cost(frames)
    total = costs.sum()
    print(f"{args.shots} shots, {frames.sum()} frames ({frames.sum() / FPS / 60:.0f} min at {FPS} fps); "
          f"shot length median {np.median(frames) / FPS:.1f} s, mean {frames.mean() / FPS:.1f} s, "
          f"95th percentile {np.percentile(frames, 95) / FPS:.1f} s, longest {frames.max() / FPS:.1f} s "
          f"({frames.max()} frames, {costs.max() / total:.2%} of the work)")
    print(f"{'GPUs':>5} {'speed-up':>9} {'efficiency':>11} {'bound':>8}  what bounds it")
    for n in (int(w) for w in args.workers.split(",")):
        makespan = longest_first_makespan(costs, n)
        bound = min(n, total / costs.max())
        limit = "the longest shot" if total / costs.max() < n else "the total over N"
        print(f"{n:>5} {total / makespan:>8.1f}x {total / makespan / n:>10.1%} {bound:>7.1f}x  {limit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
