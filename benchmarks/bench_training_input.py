"""Training from the HDF5 feature cache (streamed) against training from arrays in memory.

Usage: ``python benchmarks/bench_training_input.py [--clips 3000] [--segments 4] [--segment-steps 12]``.

Writes a feature cache the size of the paper's 25-hour training set (3000 clips of 30 s:
7.75 M frames x 128 mels float32, 3.98 GB; random features, written clip by clip) into a
temporary folder under /tmp that is deleted at the end. Two subprocesses then train the
paper-sized CRNN (``build_crnn`` defaults, tau 5, batch 64):

* speed: one model trained alternately from the two inputs, segment by segment (stream,
  memory, memory, stream, ...), each segment a ``fit`` of ``--segment-steps`` steps through
  :func:`rsed.training.fit.window_dataset`, so both inputs meet the same machine load. Streaming
  reads windows from the file, which was dropped from the page cache first (``posix_fadvise``),
  so they come from the disk; in memory gathers them from the first ``--memory-clips`` clips
  held as arrays (the whole set would need 4 GB more). The first batch of every segment and a
  warm-up segment (tracing) are not timed.
* memory: what ``rsed reproduce`` does, in a process of its own: statistics over the whole file
  (:func:`compute_stats`), then :func:`train_detector` streaming from the file. Its peak
  resident set size (``getrusage``) is the streaming side's memory.

Prints

    training_input: ratio=STREAM/MEMORY steps/s (target 0.9)
    training_input_memory: ratio=PEAK_GB/3.0 (target <= 1.0)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rsed.config import FeatureConfig  # plain dataclasses: no TensorFlow in the parent process

#: Frames of a 30 s mixture at 44.1 kHz with hop 512 (centred frames): twice the default hop's frame count, so the file
#: is the size the 25-hour set had at hop 512 (4 GB), a stricter test of streamed memory than the 2 GB it has now.
CLIP_FRAMES = 1 + 30 * 44100 // 512
MEMORY_LIMIT_GB = 3.0
TAU, BATCH = 5, 64
FPS = FeatureConfig().frames_per_step


def _evict(path: Path) -> None:
    """Drop a file's pages from the page cache (they are clean after fsync), so reads hit the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _batch_timer():
    """A Keras callback noting ``perf_counter`` at the end of every training batch, per epoch."""
    import keras

    class BatchTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs.append([])

        def on_train_batch_end(self, batch, logs=None):
            self.epochs[-1].append(time.perf_counter())

    return BatchTimer()


def _timed(timer) -> tuple[int, float]:
    """Steps and seconds between the first and the last batch end of every epoch recorded."""
    epochs = [e for e in timer.epochs if len(e) > 1]
    return sum(len(e) - 1 for e in epochs), sum(e[-1] - e[0] for e in epochs)


def _first_steps(cache: Path, n: int, mean=None, std=None):
    """The first ``n`` clips of a cache as normalised StepSequences (statistics from them if not given)."""
    import numpy as np

    from rsed.features import iter_cache, to_steps
    from rsed.features.windows import StepSequence

    clips = []
    for clip in iter_cache(cache):
        clips.append(clip)
        if len(clips) == n:
            break
    if mean is None:
        frames = np.concatenate([c.logmel for c in clips])
        mean, std = frames.mean(axis=0), np.maximum(frames.std(axis=0), 1e-6)
        del frames
    out = []
    for clip in clips:
        steps, labels = to_steps((clip.logmel - mean) / std, clip.labels, FPS)
        out.append(StepSequence(clip.filename, steps.astype(np.float32), labels))
    return out, mean, std


def _child_speed(args) -> dict:
    """Train one model alternately from the file and from memory; steps/s of each."""
    from rsed.config import ModelConfig, TrainConfig
    from rsed.features.windows import WindowSampler
    from rsed.training.fit import build_model, compile_detector, window_dataset
    from rsed.training.streaming import CachedSteps, CacheWindowSampler

    cache = Path(args.cache)
    config = TrainConfig(batch_size=BATCH)
    train, mean, std = _first_steps(cache, args.memory_clips)
    samplers = {
        "memory": WindowSampler(train, TAU, positive_fraction=config.positive_fraction, seed=config.seed),
        "stream": CacheWindowSampler(CachedSteps(cache, mean, std, FPS), TAU, positive_fraction=config.positive_fraction, seed=config.seed),
    }
    _evict(cache)
    model = build_model("crnn", ModelConfig(timesteps=TAU), FPS, 128)
    compile_detector(model, config)

    def segment(side, number, steps):
        timer = _batch_timer()
        dataset = window_dataset(samplers[side], BATCH, steps, lambda: number)
        model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
        return _timed(timer)

    segment("memory", 0, 3)  # warm-up: traces the training step
    segments = {"stream": [], "memory": []}
    order = ["stream", "memory", "memory", "stream"]
    for number in range(2 * args.segments):
        side = order[number % 4]
        segments[side].append(segment(side, number + 1, args.segment_steps))
    samplers["stream"].close()
    result = {}
    for side, timings in segments.items():
        steps, seconds = sum(n for n, _ in timings), sum(s for _, s in timings)
        rates = sorted(n / s for n, s in timings)
        result[side] = {"steps": steps, "seconds": seconds, "steps_per_s": steps / seconds, "segment_min": rates[0], "segment_max": rates[-1]}
    return result


def _child_memory(args) -> dict:
    """rsed reproduce's streaming training in this process: peak memory and steps/s."""
    from rsed.config import ModelConfig, TrainConfig
    from rsed.features import compute_stats
    from rsed.training.fit import build_model, train_detector
    from rsed.training.streaming import CachedSteps

    cache = Path(args.cache)
    started = time.perf_counter()
    mean, std = compute_stats([cache])
    validation, _, _ = _first_steps(cache, 4, mean, std)
    _evict(cache)
    prepared = time.perf_counter() - started
    model = build_model("crnn", ModelConfig(timesteps=TAU), FPS, 128)
    config = TrainConfig(min_epochs=2, max_epochs=2, patience=2, steps_per_epoch=args.segment_steps, batch_size=BATCH)
    timer = _batch_timer()
    with tempfile.TemporaryDirectory(prefix="run-", dir=args.workdir) as out:
        train_detector(model, CachedSteps(cache, mean, std, FPS), validation, config, out, verbose=0, callbacks=[timer])
    timer.epochs = timer.epochs[1:]  # the first epoch traces
    steps, seconds = _timed(timer)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {"peak_gb": peak_kb * 1024 / 1e9, "stats_s": prepared, "steps_per_s": steps / seconds}


def _run_child(kind: str, cache: Path, args) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--cache", str(cache), "--workdir", str(cache.parent)]
    command += ["--segments", str(args.segments), "--segment-steps", str(args.segment_steps), "--memory-clips", str(args.memory_clips)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{kind} run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=3000, help="30 s clips in the feature file (3000 = 25 hours)")
    parser.add_argument("--segments", type=int, default=10, help="timed segments per input")
    parser.add_argument("--segment-steps", type=int, default=8, help="training steps per segment")
    parser.add_argument("--memory-clips", type=int, default=300, help="clips the in-memory input holds")
    parser.add_argument("--workdir", default="/tmp", help="where the temporary folder goes")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--child", choices=["speed", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = (_child_speed if args.child == "speed" else _child_memory)(args)
        print("RESULT " + json.dumps(result), flush=True)
        return result

    from rsed.features.synthetic_cache import write_synthetic_cache

    work = Path(tempfile.mkdtemp(prefix="rsed-bench-training-", dir=args.workdir))
    try:
        started = time.perf_counter()
        cache = write_synthetic_cache(work / "train.h5", [CLIP_FRAMES] * args.clips, seed=0, progress=sys.stderr.isatty())
        size_gb = cache.stat().st_size / 1e9
        written = time.perf_counter() - started
        print(f"# feature file: {args.clips} clips, {args.clips * 30 / 3600:.1f} h, {args.clips * CLIP_FRAMES / 1e6:.2f} M frames, {size_gb:.2f} GB, written in {written:.0f} s", flush=True)
        print(f"# load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        speed = _run_child("speed", cache, args)
        for side in ("stream", "memory"):
            s = speed[side]
            print(f"# {side}: {s['steps_per_s']:.3f} steps/s over {s['steps']} timed steps, segments {s['segment_min']:.2f}-{s['segment_max']:.2f} (paper CRNN, batch {BATCH}, tau {TAU})", flush=True)
        memory = _run_child("memory", cache, args)
        print(f"# rsed reproduce's streamed training: peak RSS {memory['peak_gb']:.2f} GB, {memory['steps_per_s']:.3f} steps/s, statistics pass {memory['stats_s']:.0f} s", flush=True)
        print(f"# load average after: {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    ratio = speed["stream"]["steps_per_s"] / speed["memory"]["steps_per_s"]
    print(f"training_input: ratio={ratio:.3f} (target 0.9)")
    print(f"training_input_memory: ratio={memory['peak_gb'] / MEMORY_LIMIT_GB:.3f} (target <= 1.0)")
    return {"ratio": ratio, "speed": speed, "memory": memory}


if __name__ == "__main__":
    main()
