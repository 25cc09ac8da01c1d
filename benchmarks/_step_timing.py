"""Seconds per training step of the paper-sized CRNN, each measurement in a fresh process.

Shared by the training benchmarks (bench_training_allocator.py, bench_batchnorm.py): a side is
a ``prelude`` (Python run in the child before the model is built, after ``import rsed``, which
sets the allocator default before TensorFlow starts) and extra environment variables. The
child builds ``build_crnn(timesteps=tau)``, takes two untimed training steps on a batch of 64
random windows (tracing) and then ``steps`` timed ones. Rounds alternate the sides' order so
that load from other processes meets every side alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

_CHILD = """
import json, sys, time
import numpy as np
import rsed
{prelude}
from rsed.config import FeatureConfig
from rsed.models import build_crnn
tau, steps = int(sys.argv[1]), int(sys.argv[2])
model = build_crnn(timesteps=tau)
model.compile(optimizer="adam", loss="binary_crossentropy")
rng = np.random.default_rng(0)
x = rng.standard_normal((64, tau, FeatureConfig().frames_per_step, 128, 1), dtype=np.float32)
y = (rng.random((64, tau, 1)) > 0.5).astype(np.float32)
for _ in range(2):
    model.train_on_batch(x, y)
times = []
for _ in range(steps):
    start = time.perf_counter()
    model.train_on_batch(x, y)
    times.append(time.perf_counter() - start)
print(json.dumps({{"best": min(times), "mean": sum(times) / len(times)}}))
"""


def step_seconds(name: str, tau: int, steps: int, prelude: str = "", env: dict | None = None) -> dict:
    """``{"best", "mean"}`` seconds per step of one side, measured in a fresh process."""
    child_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    code = _CHILD.format(prelude=prelude)
    done = subprocess.run([sys.executable, "-c", code, str(tau), str(steps)], env=child_env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed ({name}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def best_alternating(sides: dict[str, dict], tau: int, steps: int, rounds: int) -> dict[str, float]:
    """Best seconds per step of each side (``{name: {"prelude": ..., "env": ...}}``) over ``rounds`` alternating rounds; prints every measurement."""
    best = {name: float("inf") for name in sides}
    order = list(sides)
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            result = step_seconds(name, tau, steps, **sides[name])
            best[name] = min(best[name], result["best"])
            print(f"round {r}: {name:5s} best {result['best']:.3f} s/step, mean {result['mean']:.3f}")
    return best
