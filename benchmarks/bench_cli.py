"""How fast ``rsed detect`` answers a missing file: seconds of a fresh ``python -m rsed`` process.

Usage: ``python benchmarks/bench_cli.py [--runs 5]``. Runs ``python -m rsed detect missing.wav
--models <a folder>`` ``--runs`` times (one line on stderr, exit status 2, answered before
TensorFlow is imported); prints each run's wall time, then ``cli error: ratio=X (target 1)``
with X = 2 s over the median time (the goal: an answer in under 2 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 2.0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    times = []
    with tempfile.TemporaryDirectory(prefix="rsed-bench-") as models:
        command = [sys.executable, "-m", "rsed", "detect", "missing.wav", "--models", models]
        for _ in range(args.runs):
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=repo)
            times.append(time.perf_counter() - start)
            if done.returncode != 2 or len(done.stderr.splitlines()) != 1:
                raise SystemExit(f"unexpected answer (status {done.returncode}): {done.stderr!r}")
    median = statistics.median(times)
    print(f"rsed detect missing.wav: {', '.join(f'{t:.2f}' for t in times)} s; stderr: {done.stderr.strip()!r}")
    print(f"cli error: ratio={GOAL_SECONDS / median:.1f} (target 1)")
    return {"ratio": GOAL_SECONDS / median, "median_s": median}


if __name__ == "__main__":
    main()
