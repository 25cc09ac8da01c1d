"""The ``rsed monitor`` command: read a stream, print each event the moment it is decided.

One line per event on standard output (or appended to ``-o FILE``), flushed at once:

- ``--format dcase`` (default): ``stream<TAB>onset<TAB>offset<TAB>label<TAB>peak probability<TAB>latency``,
  seconds of stream time with 3 decimals, the offset empty when the event was decided before
  its probability fell (``--max-latency``);
- ``--format jsonl``: one JSON object per line (:meth:`rsed.inference.monitor.MonitorEvent.to_json`).

The end of the input, Ctrl-C or SIGTERM ends the stream: pending decisions are flushed and the
command exits 0. A bad argument, unreadable input or models folder is one line
``rsed: error: ...`` and exit status 2, as for the other commands.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
from pathlib import Path

from ..errors import RsedError

#: Seconds of audio read at once: small at real speed (a decision waits at most one block),
#: large as fast as possible (each block costs a fixed ~1 ms per model and network part on top
#: of its steps; a pipe gives what it holds, up to this much, without waiting for more).
REALTIME_BLOCK_SECONDS = 0.05
FAST_BLOCK_SECONDS = 10.0


def max_latency_arg(value: str):
    """``--max-latency``: seconds > 0, ``auto`` (each class's longest tau + 1 s) or ``none`` (no bound)."""
    if value in ("auto", "none"):
        return None if value == "none" else "auto"
    try:
        seconds = float(value)
    except ValueError:
        raise RsedError(None, f"--max-latency must be seconds, 'auto' or 'none', got {value!r}") from None
    if not (seconds > 0 and math.isfinite(seconds)):
        raise RsedError(None, f"--max-latency must be positive, got {value!r}")
    return seconds


def add_monitor_arguments(parser) -> None:
    """The options of ``rsed monitor`` (its subparser in :mod:`rsed.cli.commands`)."""
    parser.add_argument("--models", required=True, help="a run's models folder, or one detector folder")
    parser.add_argument("--input", default="-", help="'-' standard input (WAV, or raw PCM with --rate), an audio FILE or named pipe, or 'mic' (default: -)")
    parser.add_argument("--realtime", action="store_true", help="read a FILE or pipe no faster than real time (as a live source delivers it)")
    parser.add_argument("--format", choices=["dcase", "jsonl"], default="dcase", help="output lines (docs/analysis.md)")
    parser.add_argument("-o", "--output", help="append the event lines to this file (flushed per event) instead of standard output")
    parser.add_argument("--rate", type=int, help="sample rate of raw PCM on standard input (or of the mic)")
    parser.add_argument("--channels", type=int, help="channels of raw PCM (or of the mic; default 1)")
    parser.add_argument("--dtype", choices=["int16", "int32", "float32"], help="sample format of raw PCM (little-endian; default int16)")
    parser.add_argument("--max-latency", default="auto", help="seconds from an event's onset by which it is decided: a number, 'auto' (each class's longest tau + 1 s) or 'none'")
    parser.add_argument("--name", help="the stream's name in the output (default: the input)")
    parser.add_argument("--classes", nargs="+", help="only these classes")
    parser.add_argument("--architecture", help="which architecture's detectors (default: crnn, or the only one there is)")
    parser.add_argument("--timesteps", type=int, nargs="+", help="ensemble members by timesteps (default: the ensemble their detector.json records)")
    parser.add_argument("--recipe", help="training recipe in a run's models folder, as for rsed detect (default: 'plus' when models/plus/ holds detectors, else the paper's)")


def run_monitor(args) -> None:
    """``rsed monitor``: see the module docstring."""
    from ..audio_stream import open_source, paced
    from ..inference.detect import load_detectors
    from ..inference.monitor import Monitor

    max_latency = max_latency_arg(str(args.max_latency))
    for name in ("rate", "channels"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise RsedError(None, f"--{name} must be positive, got {value}")
    ensembles = load_detectors(Path(args.models), classes=args.classes, architecture=args.architecture, timesteps=args.timesteps, recipe=args.recipe)
    block = REALTIME_BLOCK_SECONDS if args.realtime or args.input == "mic" else FAST_BLOCK_SECONDS
    source = open_source(args.input, rate=args.rate, channels=args.channels, dtype=args.dtype, block_seconds=block)
    try:
        name = args.name or ("stdin" if args.input == "-" else source.name)
        monitor = Monitor(ensembles, sample_rate=source.rate, channels=source.channels, max_latency=max_latency, name=name)
        blocks = paced(source.blocks, source.rate) if args.realtime and args.input != "mic" else source.blocks
        with _output(args.output) as out, _Interruptible() as guard:
            write = _writer(out, args.format)
            count = 0
            try:
                for samples in blocks:
                    with guard.busy():
                        events = monitor.feed(samples)
                    count += write(events)
            except KeyboardInterrupt:
                pass
            with guard.busy():
                count += write(monitor.flush())
        print(f"rsed monitor: {monitor.time:.1f} s of {name}, {count} event(s)", file=sys.stderr)
    finally:
        source.close()


def _writer(out, fmt: str):
    broken = []

    def write(events) -> int:
        for event in events:
            if broken:
                return 0
            line = json.dumps(event.to_json()) if fmt == "jsonl" else event.dcase_line()
            try:
                out.write(line + "\n")
                out.flush()
            except BrokenPipeError:  # the reader went away (e.g. `| head`): nothing left to tell, end the stream
                broken.append(True)
                if out is sys.stdout:  # so that the interpreter's last flush does not fail again
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise KeyboardInterrupt from None
        return len(events)

    return write


@contextlib.contextmanager
def _output(path: str | None):
    if path is None:
        yield sys.stdout
        return
    try:
        handle = open(path, "a", encoding="utf-8")
    except OSError as exc:
        raise RsedError(Path(path), f"cannot write the output ({exc.strerror or exc})") from None
    with handle:
        yield handle


class _Interruptible:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt, except while ``busy()``: then they wait for its end,
    so that a feed is never left half done and the flush that follows sees a consistent stream."""

    def __init__(self):
        self._busy, self._pending, self._previous = False, False, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        return False

    def _handle(self, signum, frame):
        if self._busy:
            self._pending = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def busy(self):
        self._busy = True
        try:
            yield
        finally:
            self._busy = False
        if self._pending:
            self._pending = False
            raise KeyboardInterrupt
