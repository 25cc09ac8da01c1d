"""CRNN training speed with the fused batch normalisation (rsed.models.layers.FusedBatchNormalization) against Keras' own.

Usage: ``python benchmarks/bench_batchnorm.py [--tau 5] [--rounds 3] [--steps 6]``.

The paper-sized CRNN (``build_crnn`` defaults) is built in a fresh process per side, with one
layer class or the other for its two convolutional batch normalisations (in one process the two
models' tensors share the allocator and the gap shrinks), and takes ``--steps`` timed training
steps on a batch of 64 random windows after two untimed ones; the rounds alternate the two
(fused, plain, plain, fused, ...) so that load from other processes meets both alike. The ratio
is of the best step times.

Prints

    batchnorm: ratio=PLAIN/FUSED seconds per step (target 1.1)
"""

from __future__ import annotations

import argparse
import sys

from _step_timing import best_alternating

TARGET = 1.1

#: Keras' own layer in place of the fused one, set before the model is built.
PLAIN = "import keras, rsed.models.builders\nrsed.models.builders.FusedBatchNormalization = keras.layers.BatchNormalization"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tau", type=int, default=5, help="timesteps per window (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of both sides (default 3)")
    parser.add_argument("--steps", type=int, default=6, help="timed training steps per side and round (default 6)")
    args = parser.parse_args(argv)
    best = best_alternating({"fused": {}, "plain": {"prelude": PLAIN}}, args.tau, args.steps, args.rounds)
    print(f"paper-sized CRNN, tau {args.tau}, batch 64: plain {best['plain']:.3f} s/step, fused {best['fused']:.3f} s/step")
    print(f"batchnorm: ratio={best['plain'] / best['fused']:.2f} (target {TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
