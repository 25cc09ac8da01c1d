"""Latency of ``rsed monitor --realtime`` fed through a pipe at the speed of the audio.

Usage: ``python benchmarks/realtime_monitor.py [--models DIR --input FILE.wav]``. Starts
``rsed monitor --input - --realtime --format jsonl`` in a subprocess, writes the WAV header
and a few samples to its standard input, waits until the monitor has loaded its detectors and
emptied the pipe, then writes the rest at the speed of the audio (as ``arecord`` would). Each
event line is timestamped on arrival: besides the latency the monitor reports (stream time of
the decision minus the onset), the wall-clock latency (arrival minus the moment the onset was
written) includes the computing time and the pipe. Prints one line per event, the median and
maximum, and the bound the issue sets (the longest tau of the ensemble in seconds plus 1 s).

Without ``--models``: the detectors and the 20-mixture stream of ``tests/fixtures_monitor.py``
(built under ``--work``), of which 60 s holding three events are played (5 lines: gunshot 3,
glassbreak 2). Not part of ``make bench`` (it takes real time).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
SR = 44100


def _default_input(work: Path) -> tuple[Path, Path]:
    """The fixture detectors and 60 s of its stream: mixture 0 (first 20 s), 4 (last 20 s), 12 (first 20 s)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import fixtures_monitor

    built = fixtures_monitor.build(work)
    y = sf.read(built["stream"], dtype="float32")[0]
    clip = 30 * SR
    parts = [y[0 : 20 * SR], y[4 * clip + 10 * SR : 5 * clip], y[12 * clip : 12 * clip + 20 * SR]]
    path = work / "realtime60.wav"
    sf.write(path, np.concatenate(parts), SR, subtype="PCM_16")
    return built["models"], path


def _unread(fd: int) -> int:
    """Bytes written to a pipe and not yet read (Linux FIONREAD)."""
    buf = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return int.from_bytes(buf, sys.byteorder)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models")
    parser.add_argument("--input", help="a 16-bit WAV file")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "rsed-realtime-monitor"))
    args = parser.parse_args(argv)
    if args.models and args.input:
        models, path = Path(args.models), Path(args.input)
    else:
        Path(args.work).mkdir(parents=True, exist_ok=True)
        models, path = _default_input(Path(args.work))
    data = path.read_bytes()
    info = sf.info(str(path))
    if info.subtype != "PCM_16":
        raise SystemExit("--input must be 16-bit WAV (so that bytes map to samples)")
    start = data.index(b"data") + 8
    frame = 2 * info.channels

    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "rsed.cli", "monitor", "--models", str(models), "--input", "-", "--realtime", "--format", "jsonl"]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, bufsize=0)
    head = start + 1000 * frame
    proc.stdin.write(data[:head])
    while _unread(proc.stdin.fileno()) > 0:  # the monitor has loaded its models and started reading
        time.sleep(0.005)
    t0 = time.monotonic() - 1000 / info.samplerate
    os.set_blocking(proc.stdout.fileno(), False)
    arrivals, pending, position = [], b"", head
    block = int(0.02 * info.samplerate) * frame
    while True:
        if position < len(data):
            due = t0 + (position - start) / frame / info.samplerate
            time.sleep(max(0.0, due - time.monotonic()))
            proc.stdin.write(data[position : position + block])
            position += block
            if position >= len(data):
                proc.stdin.close()
        else:
            time.sleep(0.005)
        chunk = proc.stdout.read() or b""
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            arrivals.append((time.monotonic(), json.loads(line)))
        if position >= len(data) and proc.poll() is not None:
            pending += proc.stdout.read() or b""
            for line in pending.splitlines():
                arrivals.append((time.monotonic(), json.loads(line)))
            break

    from rsed.inference.detect import load_detectors

    bound = max(max(e.timesteps) * e.features.step_seconds for e in load_detectors(models).values()) + 1.0
    stream_latency = np.array([event["latency"] for _, event in arrivals])
    wall_latency = np.array([t - (t0 + event["onset"]) for t, event in arrivals])
    for (_, event), wall in zip(arrivals, wall_latency, strict=True):
        print(f"{event['event_label']:>10} onset {event['onset']:7.3f} s  latency {event['latency']:.3f} s (stream)  {wall:.3f} s (wall clock)  {event['decision']}")
    print(f"{len(arrivals)} events over {(len(data) - start) / frame / info.samplerate:.0f} s: median latency {np.median(stream_latency):.3f} s (stream), "
          f"{np.median(wall_latency):.3f} s (wall clock); max {stream_latency.max():.3f} / {wall_latency.max():.3f} s; "
          f"bound: longest tau + 1 s = {bound:.3f} s; exit status {proc.returncode}")
    return {"stream": stream_latency, "wall": wall_latency, "bound": bound}


if __name__ == "__main__":
    main()
