"""Stream monitoring speed, latency and memory with the paper's full Table 2 ensemble.

Usage: ``python benchmarks/bench_monitor.py [--minutes 60] [--latency-seconds 120]``. Builds the six
paper-sized CRNNs of Table 2 (babycry tau 5, 9, 50; glassbreak 3; gunshot 3, 5) with random
weights as :mod:`bench_detection` does, saves them as detector folders and loads them back as
``rsed monitor`` does. The stream is generated block by block (never held whole): noise with
rare synthetic events (a tone sweep over a noise burst, 0.3-2 s, one every 10-50 s).

Random weights barely react to the events, so before timing, each model's output unit (one
sigmoid over its 128 dense features) is refitted as a linear probe: a class-balanced logistic
regression of the steps' event labels on those features, over every window of a 60 s
calibration stream, its logit scaled up until the median event step of the sliding ensemble has p > 0.9. The speed does not depend on the weights; the detections make the
latency figures possible (they are not meant to be good detections).

Three measurements, in one process:

1. ``--minutes`` of stream fed as fast as possible in blocks of 10 s (as ``rsed monitor``
   reads a file, :data:`rsed.cli.monitor.FAST_BLOCK_SECONDS`): X = seconds of audio per wall-clock second; the resident memory (VmRSS, and
   the peak VmHWM, reset after loading where the kernel allows) after 1 minute and at the end.
2. ``--latency-seconds`` of stream fed in blocks of 0.05 s (as ``--realtime`` reads,
   :data:`rsed.cli.monitor.REALTIME_BLOCK_SECONDS`): the
   latency of each event (stream time of the decision minus the onset), median and maximum,
   and the speed at that block size.

Prints detail lines, then ``monitor: ratio=X (target 50)``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_detection import TABLE2, _save_detectors  # noqa: E402

TARGET = 50.0
SR = 44100


class EventStream:
    """Noise (std 0.02) with an event every 10-50 s: a 500-3000 Hz sweep over a noise burst, 0.3-2 s."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.position = 0
        self.events: list[tuple[int, int]] = []  # (start, end) samples of the last minute's events
        self.n_events = 0
        self._next_event = int(self.rng.uniform(5, 20) * SR)

    def read(self, n: int) -> np.ndarray:
        y = (0.02 * self.rng.standard_normal(n)).astype(np.float32)
        end = self.position + n
        while self._next_event < end:
            length = int(self.rng.uniform(0.3, 2.0) * SR)
            self.events.append((self._next_event, self._next_event + length))
            self.n_events += 1
            self._next_event += length + int(self.rng.uniform(10, 50) * SR)
        for start, stop in self.events:
            lo, hi = max(start, self.position), min(stop, end)
            if lo < hi:
                t = np.arange(lo - start, hi - start) / SR
                sweep = np.sin(2 * np.pi * (500 + 1250 * t / max(t[-1], 1e-3)) * t)
                y[lo - self.position : hi - self.position] += (0.3 * sweep + 0.2 * self.rng.standard_normal(hi - lo)).astype(np.float32)
        self.events = [e for e in self.events if e[1] > end - 60 * SR]  # forget old events: the generator stays small
        self.position = end
        return y


def _calibrate(ensembles) -> None:
    """Fit each model's output unit (a linear probe of its random dense features) to the events of a calibration stream."""
    import keras
    from sklearn.linear_model import LogisticRegression

    from rsed.features import logmel, to_steps
    from rsed.features.windows import sliding_windows
    from rsed.inference.sliding import predict_steps

    source = EventStream(seed=99)
    y = source.read(60 * SR)
    inside = np.zeros(y.size, bool)
    for start, stop in source.events:
        inside[start:stop] = True
    for ensemble in ensembles.values():
        mel = logmel(y, ensemble.features)
        step_samples = ensemble.features.hop_length * ensemble.features.frames_per_step
        for model, spec in ensemble.members:
            steps, _ = to_steps(spec.normalise(mel), None, spec.features.frames_per_step)
            covered = np.resize(inside, steps.shape[0] * step_samples)  # the last step may end a few samples after the stream
            labels = covered.reshape(steps.shape[0], step_samples).mean(axis=1) > 0.5
            head = keras.Model(model.inputs, model.get_layer("fc_dropout").output)  # the features the output unit weighs
            windows = sliding_windows(steps, spec.timesteps)
            features = head.predict(np.ascontiguousarray(windows)[..., None], batch_size=16, verbose=0)  # (n, tau, units)
            targets = labels[np.arange(len(windows))[:, None] + np.arange(spec.timesteps)]
            probe = LogisticRegression(class_weight="balanced", max_iter=1000).fit(features.reshape(-1, features.shape[-1]), targets.ravel())
            unit = model.get_layer("output").layer
            for sharpen in (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0):  # the regularised probe is unsure: until the median event step has p > 0.9 (t1 is 0.8)
                unit.set_weights([sharpen * probe.coef_.T.astype(np.float32), sharpen * probe.intercept_.astype(np.float32)])
                if np.median(predict_steps(model, steps)[labels]) > 0.9:
                    break


def _memory() -> dict[str, float]:
    """VmRSS and VmHWM of this process in MB (Linux)."""
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1]) / 1024
    return values


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0, ``/proc/self/clear_refs`` value 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _run(monitor, source: EventStream, seconds: float, block_seconds: float, on_minute=None):
    """Feed ``seconds`` of ``source`` in blocks; returns (wall seconds, events)."""
    block = int(block_seconds * SR)
    events, fed, next_minute = [], 0, 60 * SR
    start = time.perf_counter()
    while fed < seconds * SR:
        events += monitor.feed(source.read(block))
        fed += block
        if on_minute is not None and fed >= next_minute:
            on_minute(fed / SR)
            next_minute += 60 * SR
    return time.perf_counter() - start, events


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="stream fed as fast as possible (10 s blocks)")
    parser.add_argument("--latency-seconds", type=float, default=120.0, help="stream fed in realtime-sized blocks (0.05 s)")
    args = parser.parse_args(argv)

    from rsed.cli.monitor import FAST_BLOCK_SECONDS, REALTIME_BLOCK_SECONDS
    from rsed.inference.detect import load_detectors
    from rsed.inference.monitor import Monitor

    with tempfile.TemporaryDirectory(prefix="rsed-bench-") as tmp:
        _save_detectors(Path(tmp) / "models")
        start = time.perf_counter()
        ensembles = load_detectors(Path(tmp) / "models")
        load_s = time.perf_counter() - start
    _calibrate(ensembles)
    warm = Monitor(ensembles)
    warm.feed(EventStream(seed=1).read(10 * SR))  # traces each model's per-step parts
    warm.flush()

    reset = _reset_peak()
    memory = {}
    monitor = Monitor(ensembles)
    source = EventStream(seed=2)
    wall, events = _run(monitor, source, args.minutes * 60, FAST_BLOCK_SECONDS, on_minute=lambda t: memory.setdefault(round(t / 60), _memory()))
    events += monitor.flush()
    end_memory = _memory()
    ratio = args.minutes * 60 / wall

    small = Monitor(ensembles)
    small_source = EventStream(seed=3)
    small_wall, small_events = _run(small, small_source, args.latency_seconds, REALTIME_BLOCK_SECONDS)
    small_events += small.flush()
    latencies = np.array([e.latency for e in small_events])

    n_models = sum(len(ensemble.specs) for ensemble in ensembles.values())
    print(f"{n_models} paper-sized CRNNs (Table 2: {', '.join(f'{c} tau {list(t)}' for c, t in TABLE2.items())}), loaded in {load_s:.1f} s")
    print(
        f"{args.minutes:g} min of stream in {FAST_BLOCK_SECONDS:g} s blocks (as rsed monitor reads a file): {wall:.1f} s wall; "
        f"{source.n_events} synthetic events, decided: {', '.join(f'{c} {sum(e.class_name == c for e in events)}' for c in sorted(ensembles))}"
    )
    first = memory.get(1, end_memory)
    peak_note = "" if reset else " (peak not resettable: includes loading)"
    print(
        f"memory after 1 min: RSS {first['VmRSS']:.0f} MB, peak {first['VmHWM']:.0f} MB; after {args.minutes:g} min: "
        f"RSS {end_memory['VmRSS']:.0f} MB, peak {end_memory['VmHWM']:.0f} MB (peak ratio {end_memory['VmHWM'] / first['VmHWM']:.3f}, "
        f"RSS ratio {end_memory['VmRSS'] / first['VmRSS']:.3f}; target <= 1.10){peak_note}"
    )
    bounds = ", ".join(f"{c} {small.max_latency(c):.2f} s" for c in sorted(ensembles))
    if latencies.size:
        print(
            f"latency, {args.latency_seconds:g} s of stream in {REALTIME_BLOCK_SECONDS:g} s blocks (as --realtime reads; {args.latency_seconds / small_wall:.1f}x real time): "
            f"{small_source.n_events} synthetic events, {latencies.size} decided, median {np.median(latencies):.2f} s, max {latencies.max():.2f} s "
            f"(bounds {bounds}; decisions: {', '.join(sorted({e.reason for e in small_events}))})"
        )
    else:
        print(f"latency: no event decided in {args.latency_seconds:g} s (bounds {bounds})")
    print(f"monitor: ratio={ratio:.1f} (target {TARGET:g})")
    return {"ratio": ratio, "latencies": latencies, "memory_first": first, "memory_end": end_memory}


if __name__ == "__main__":
    main()
