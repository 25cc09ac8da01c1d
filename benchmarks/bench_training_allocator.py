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
import json
import os
import subprocess
import sys

TARGET = 1.3

_CHILD = """
import json, sys, time
import numpy as np
import rsed  # sets the allocator default before TensorFlow starts
from rsed.models import build_crnn
tau, steps = int(sys.argv[1]), int(sys.argv[2])
model = build_crnn(timesteps=tau)
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


def run_side(use_bfc: bool, tau: int, steps: int) -> dict:
    """Seconds per training step in a fresh process with the allocator chosen by the environment."""
    env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="true" if use_bfc else "false", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", _CHILD, str(tau), str(steps)], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed ({'bfc' if use_bfc else 'plain'}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tau", type=int, default=9, help="timesteps per window (default 9, the demo's babycry model)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of both sides (default 3)")
    parser.add_argument("--steps", type=int, default=6, help="timed training steps per side and round (default 6)")
    args = parser.parse_args(argv)
    best = {True: float("inf"), False: float("inf")}
    for r in range(args.rounds):
        for use_bfc in ((True, False) if r % 2 == 0 else (False, True)):
            result = run_side(use_bfc, args.tau, args.steps)
            best[use_bfc] = min(best[use_bfc], result["best"])
            print(f"round {r}: {'bfc  ' if use_bfc else 'plain'} best {result['best']:.3f} s/step, mean {result['mean']:.3f}")
    print(f"paper-sized CRNN, tau {args.tau}, batch 64: plain {best[False]:.3f} s/step, bfc {best[True]:.3f} s/step")
    print(f"training_allocator: ratio={best[False] / best[True]:.2f} (target {TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
