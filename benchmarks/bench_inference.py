"""Speed of the fast sliding ensemble against the direct one: paper-sized CRNN, tau 50, a 30 s clip.

Usage: ``python benchmarks/bench_inference.py [--tau 50] [--seconds 30] [--repeats 3]``. Both
paths run in this process on the same steps with the same randomly initialised model (the
speed does not depend on the weights), repeats interleaved. Prints detail lines, then
``inference: ratio=X (target 10)`` with X the direct path's best time over the fast one's.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

TARGET = 10.0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tau", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hop-length", type=int, help="samples (default: the feature default)")
    parser.add_argument("--frames-per-step", type=int, help="frames per model step (default: the feature default)")
    args = parser.parse_args(argv)

    import keras

    from rsed.config import FeatureConfig
    from rsed.inference.sliding import predict_steps
    from rsed.models import build_crnn

    keras.utils.set_random_seed(0)
    default = FeatureConfig()
    features = FeatureConfig(hop_length=args.hop_length or default.hop_length, frames_per_step=args.frames_per_step or default.frames_per_step)
    n_frames = 1 + int(args.seconds * features.sample_rate) // features.hop_length
    n_steps = n_frames // features.frames_per_step
    steps = np.random.default_rng(0).standard_normal((n_steps, features.frames_per_step, features.n_mels)).astype(np.float32)
    model = build_crnn(timesteps=args.tau, frames_per_step=features.frames_per_step, n_mels=features.n_mels)

    sides = {"direct": lambda: predict_steps(model, steps, fast=False), "fast": lambda: predict_steps(model, steps, fast=True)}
    results = {name: fn() for name, fn in sides.items()}  # warm up: graph tracing, weight conversion
    times = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, fn in sides.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    diff = float(np.abs(results["fast"] - results["direct"]).max())
    ratio = min(times["direct"]) / min(times["fast"])
    n_windows = max(n_steps - args.tau + 1, 1)
    print(f"paper-sized CRNN ({model.count_params()} parameters), tau {args.tau}, {args.seconds:g} s clip = {n_steps} steps, {n_windows} windows")
    for name in sides:
        print(f"{name}: best {min(times[name]):.3f} s, median {np.median(times[name]):.3f} s")
    print(f"max abs difference of the probabilities {diff:.2e} (allowed 1e-5)")
    print(f"inference: ratio={ratio:.1f} (target {TARGET:g})")
    return {"ratio": ratio, "max_abs_diff": diff, "times": times}


if __name__ == "__main__":
    main()
