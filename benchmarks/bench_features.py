"""Speed and agreement of rsed.features.logmel against the librosa reference, on one core.

Usage: ``python benchmarks/bench_features.py [--seconds 30] [--repeats 15]``. Prints the best
and median time of each extractor, their ratio and the largest difference in dB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time

import numpy as np

from rsed.config import FeatureConfig
from rsed.features import logmel, logmel_reference


def _signal(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Noise, two tones and one second of silence: a stand-in for a DCASE mixture."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    y = 0.02 * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.05 * np.sin(2 * np.pi * 7000.0 * t)
    y[sample_rate : 2 * sample_rate] = 0.0
    return y.astype(np.float32)


def _times(fn, y, config, repeats: int) -> list[float]:
    fn(y, config)  # warm up: imports, mel matrix, FFT plans
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(y, config)
        out.append(time.perf_counter() - start)
    return out


def _one_core():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    config = FeatureConfig()
    y = _signal(args.seconds, config.sample_rate)
    with _one_core():
        ref_times = _times(logmel_reference, y, config, args.repeats)
        our_times = _times(logmel, y, config, args.repeats)
    diff = float(np.abs(logmel(y, config) - logmel_reference(y, config)).max())
    result = {
        "seconds": args.seconds,
        "reference_best_s": min(ref_times),
        "reference_median_s": float(np.median(ref_times)),
        "logmel_best_s": min(our_times),
        "logmel_median_s": float(np.median(our_times)),
        "speedup_best": min(ref_times) / min(our_times),
        "speedup_median": float(np.median(ref_times) / np.median(our_times)),
        "max_abs_diff_db": diff,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
