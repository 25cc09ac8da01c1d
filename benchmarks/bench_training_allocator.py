"""Training speed with TensorFlow's BFC CPU allocator (rsed's default) against its plain one.

Usage: ``python benchmarks/bench_training_allocator.py [--tau 9] [--rounds 3] [--steps 6]``.

``import rsed`` sets ``TF_CPU_ALLOCATOR_USE_BFC=true`` unless the environment says otherwise
(rsed/__init__.py). TensorFlow reads it once, when it first allocates, so each side runs in a
subprocess of its own: a paper-sized CRNN (``build_crnn`` defaults) takes ``--steps`` timed
training steps on a batch of 64 random windows of ``--tau`` steps, after two untimed ones
(tracing). The rounds alternate the two sides (BFC, plain, plain, BFC, ...) so that load from
other processes meets both alike; the ratio is of the best step times.

Prints

    training_allocator: ratio=PLAIN/BFC seconds per step (target 1.3)
"""

from __future__ import annotations

import argparse
import sys

from _step_timing import best_alternating

TARGET = 1.3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tau", type=int, default=9, help="timesteps per window (default 9, the demo's babycry model)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of both sides (default 3)")
    parser.add_argument("--steps", type=int, default=6, help="timed training steps per side and round (default 6)")
    args = parser.parse_args(argv)
    # TensorFlow reads the variable once, when it first allocates: each side runs in its own process.
    sides = {"bfc": {"env": {"TF_CPU_ALLOCATOR_USE_BFC": "true"}}, "plain": {"env": {"TF_CPU_ALLOCATOR_USE_BFC": "false"}}}
    best = best_alternating(sides, args.tau, args.steps, args.rounds)
    print(f"paper-sized CRNN, tau {args.tau}, batch 64: plain {best['plain']:.3f} s/step, bfc {best['bfc']:.3f} s/step")
    print(f"training_allocator: ratio={best['plain'] / best['bfc']:.2f} (target {TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
