"""Speed and agreement of rsed.features.logmel against the librosa reference, on one core.

Usage: ``python benchmarks/bench_features.py [--seconds 30] [--repeats 15]``. Both extractors
run in this process on the same clip, their repeats interleaved so that load from other
processes hits both alike. Prints detail lines, then one line
``features: ratio=X (target 5)`` where X is the reference's best time over ours.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # one core, for both sides; set before numpy is imported

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from rsed.config import FeatureConfig  # noqa: E402
from rsed.features import logmel, logmel_reference  # noqa: E402

TARGET = 5.0


def _signal(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Noise, two tones and one second of silence: a stand-in for a DCASE mixture."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    y = 0.02 * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.05 * np.sin(2 * np.pi * 7000.0 * t)
    y[sample_rate : 2 * sample_rate] = 0.0
    return y.astype(np.float32)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--hop-length", type=int, default=FeatureConfig().hop_length, help="samples (default: the feature default)")
    args = parser.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - the environment variables above already apply
        pass
    config = FeatureConfig(hop_length=args.hop_length)
    y = _signal(args.seconds, config.sample_rate)
    sides = {"reference": logmel_reference, "logmel": logmel}
    for fn in sides.values():
        fn(y, config)  # warm up: imports, compilation or its cache, mel matrix, FFT plans
    wall = {name: [] for name in sides}
    cpu = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, fn in sides.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn(y, config)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    diff = float(np.abs(logmel(y, config) - logmel_reference(y, config)).max())
    ratio = min(wall["reference"]) / min(wall["logmel"])
    for name in sides:
        print(f"{name}: best {1e3 * min(wall[name]):.1f} ms, median {1e3 * np.median(wall[name]):.1f} ms wall; best {1e3 * min(cpu[name]):.1f} ms cpu ({args.seconds:g} s clip)")
    print(f"cpu-time ratio {min(cpu['reference']) / min(cpu['logmel']):.2f}, median wall ratio {np.median(wall['reference']) / np.median(wall['logmel']):.2f}")
    print(f"max abs difference {diff:.2e} dB (allowed 0.05)")
    print(f"features: ratio={ratio:.2f} (target {TARGET:g})")
    return {"ratio": ratio, "max_abs_diff_db": diff, "wall": wall, "cpu": cpu}


if __name__ == "__main__":
    main()
