"""CRNN training speed with the fused batch normalisation (rsed.layers.FusedBatchNormalization) against Keras' own.

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
import json
import os
import subprocess
import sys

TARGET = 1.1


_CHILD = """
import json, sys, time
import numpy as np
import keras
import rsed.models
from rsed.layers import FusedBatchNormalization
tau, steps, fused = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "fused"
rsed.models.FusedBatchNormalization = FusedBatchNormalization if fused else keras.layers.BatchNormalization
model = rsed.models.build_crnn(timesteps=tau)
model.compile(optimizer="adam", loss="binary_crossentropy")
rng = np.random.default_rng(0)
x = rng.standard_normal((64, tau, 8, 128, 1), dtype=np.float32)
y = (rng.random((64, tau, 1)) > 0.5).astype(np.float32)
for _ in range(2):
    model.train_on_batch(x, y)
times = []
for _ in range(steps):
    start = time.perf_counter()
    model.train_on_batch(x, y)
    times.append(time.perf_counter() - start)
print(json.dumps({"best": min(times), "mean": sum(times) / len(times)}))
"""


def run_side(fused: bool, tau: int, steps: int) -> dict:
    """Seconds per training step in a fresh process (rsed's defaults, BFC allocator included)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    code = "import rsed\n" + _CHILD  # rsed first: it sets the allocator default before TensorFlow starts
    done = subprocess.run([sys.executable, "-c", code, str(tau), str(steps), "fused" if fused else "plain"], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed ({'fused' if fused else 'plain'}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tau", type=int, default=5, help="timesteps per window (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of both sides (default 3)")
    parser.add_argument("--steps", type=int, default=6, help="timed training steps per side and round (default 6)")
    args = parser.parse_args(argv)
    best = {True: float("inf"), False: float("inf")}
    for r in range(args.rounds):
        for fused in ((True, False) if r % 2 == 0 else (False, True)):
            result = run_side(fused, args.tau, args.steps)
            best[fused] = min(best[fused], result["best"])
            print(f"round {r}: {'fused' if fused else 'plain'} best {result['best']:.3f} s/step, mean {result['mean']:.3f}")
    print(f"paper-sized CRNN, tau {args.tau}, batch 64: plain {best[False]:.3f} s/step, fused {best[True]:.3f} s/step")
    print(f"batchnorm: ratio={best[False] / best[True]:.2f} (target {TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
