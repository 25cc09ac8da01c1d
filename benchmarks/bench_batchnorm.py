"""CRNN training speed with the fused batch normalisation (rsed.layers.FusedBatchNormalization) against Keras' own.

Usage: ``python benchmarks/bench_batchnorm.py [--tau 5] [--rounds 3] [--steps 6]``.

The paper-sized CRNN (``build_crnn`` defaults) is built twice in this process, once with each
layer class for its two convolutional batch normalisations, and both take ``--steps`` timed
training steps on the same batch of 64 random windows after two untimed ones; the rounds
alternate the two (fused, plain, plain, fused, ...) so that load from other processes meets
both alike. The ratio is of the best step times.

Prints

    batchnorm: ratio=PLAIN/FUSED seconds per step (target 1.1)
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import rsed  # noqa: F401  (sets the BFC allocator default before TensorFlow starts, as training does)

TARGET = 1.1


def _model(tau: int, fused: bool):
    import keras

    import rsed.models
    from rsed.layers import FusedBatchNormalization

    original = rsed.models.FusedBatchNormalization
    rsed.models.FusedBatchNormalization = FusedBatchNormalization if fused else keras.layers.BatchNormalization
    try:
        model = rsed.models.build_crnn(timesteps=tau)
    finally:
        rsed.models.FusedBatchNormalization = original
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tau", type=int, default=5, help="timesteps per window (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of both sides (default 3)")
    parser.add_argument("--steps", type=int, default=6, help="timed training steps per side and round (default 6)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, args.tau, 8, 128, 1), dtype=np.float32)
    y = (rng.random((64, args.tau, 1)) > 0.5).astype(np.float32)
    models = {fused: _model(args.tau, fused) for fused in (True, False)}
    for model in models.values():
        for _ in range(2):
            model.train_on_batch(x, y)
    best = {True: float("inf"), False: float("inf")}
    for r in range(args.rounds):
        for fused in ((True, False) if r % 2 == 0 else (False, True)):
            times = []
            for _ in range(args.steps):
                start = time.perf_counter()
                models[fused].train_on_batch(x, y)
                times.append(time.perf_counter() - start)
            best[fused] = min(best[fused], min(times))
            print(f"round {r}: {'fused' if fused else 'plain'} best {min(times):.3f} s/step, mean {np.mean(times):.3f}")
    print(f"paper-sized CRNN, tau {args.tau}, batch 64: plain {best[False]:.3f} s/step, fused {best[True]:.3f} s/step")
    print(f"batchnorm: ratio={best[False] / best[True]:.2f} (target {TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
