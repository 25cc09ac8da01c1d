"""Rare events in an endless stream: the trained detectors of ``rsed detect``, applied incrementally.

:class:`Monitor` takes samples in pieces of any size (``feed``) and returns each event as soon
as the rule of :mod:`rsed.inference.stream_rule` decides it; ``flush`` ends the stream. Inside, every
piece of work is done once (docs/analysis.md, "Monitoring a stream"):

- :class:`StreamFrames`: a log-mel frame is computed once the samples under its window have
  arrived (librosa's centred frames: zeros before the stream's first sample; at the end of the
  stream zeros after its last, as for a whole file), by :func:`rsed.features.logmel` on the
  few samples it needs;
- :class:`StreamMember`: each new step's per-step network part once
  (:meth:`rsed.inference.fast.SlidingEnsemble.embed`), the recurrences only over the windows
  the new steps complete, and the sliding ensemble of a step once every window covering it
  has been predicted (tau - 1 steps later);
- :class:`StreamClass`: the timestep ensemble of a class's members, then its rule.

Once a step's value is final it equals the whole-file computation of ``rsed detect`` (the same
frames, the same window predictions, averaged in the same order; tests/test_monitor.py), and
nothing older than the look-back is kept: memory stays flat over hours.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np

from ..config import FeatureConfig
from ..features import logmel
from .detect import Ensemble
from .fast import one_blas_thread, sliding_ensemble
from .postprocessing import ensemble_average, sliding_average
from .stream_rule import StreamRule

log = logging.getLogger(__name__)

#: Seconds added to a class's longest tau for the default ``max_latency`` (docs/analysis.md).
LATENCY_ALLOWANCE = 1.0


@dataclass(frozen=True)
class MonitorEvent:
    """One decided event: times in seconds of stream time at the detectors' sample rate.

    ``offset`` is None when the event was decided before its probability fell to t2
    (``reason`` "max-latency"); ``decided_at`` is the stream time when the decision was made
    (the end of the samples fed so far), ``latency`` = ``decided_at - onset``.
    """

    stream: str
    class_name: str
    onset: float
    offset: float | None
    peak: float
    peak_probability: float
    decided_at: float
    reason: str

    @property
    def latency(self) -> float:
        return self.decided_at - self.onset

    def dcase_line(self) -> str:
        """``stream, onset, offset, label, peak probability, latency``, tab-separated (offset empty when unknown)."""
        offset = "" if self.offset is None else f"{self.offset:.3f}"
        return f"{self.stream}\t{self.onset:.3f}\t{offset}\t{self.class_name}\t{self.peak_probability:.4f}\t{self.latency:.3f}"

    def to_json(self) -> dict:
        return {
            "stream": self.stream,
            "event_label": self.class_name,
            "onset": round(self.onset, 4),
            "offset": None if self.offset is None else round(self.offset, 4),
            "peak": round(self.peak, 4),
            "peak_probability": round(self.peak_probability, 4),
            "decided_at": round(self.decided_at, 4),
            "latency": round(self.latency, 4),
            "decision": self.reason,
        }


class StreamFrames:
    """Log-mel frames of a stream ``[k, n_mels]``, each returned once, when final."""

    def __init__(self, config: FeatureConfig):
        self.config = config
        self._half, self._hop = config.n_fft // 2, config.hop_length
        self._lead = -(-self._half // self._hop)  # frames whose window reaches before their own hop block
        self._buffer = np.zeros(0, np.float32)
        self._buffer_start = 0  # sample index of _buffer[0]
        self.n_samples = 0
        self.n_frames = 0  # frames returned so far

    def feed(self, y: np.ndarray) -> np.ndarray:
        """Append mono samples; the frames whose windows they complete."""
        self._buffer = np.concatenate([self._buffer, np.asarray(y, np.float32)])
        self.n_samples += len(y)
        if self.n_samples < self._half:
            return self._empty()
        return self._frames((self.n_samples - self._half) // self._hop + 1)

    def flush(self) -> np.ndarray:
        """The last frames, their windows padded with zeros after the stream (``1 + n // hop`` frames in all)."""
        if self.n_samples == 0:
            return self._empty()
        return self._frames(1 + self.n_samples // self._hop)

    def _frames(self, end: int) -> np.ndarray:
        if end <= self.n_frames:
            return self._empty()
        first = max(0, self.n_frames - self._lead) * self._hop  # sample where the computed segment starts
        segment = self._buffer[first - self._buffer_start :]
        frames = logmel(segment, self.config)[self.n_frames - first // self._hop : end - first // self._hop]
        self.n_frames = end
        keep = max(0, self.n_frames - self._lead) * self._hop
        self._buffer, self._buffer_start = self._buffer[keep - self._buffer_start :].copy(), keep
        return frames

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.config.n_mels), np.float32)


class _DirectSplit:
    """The direct sliding ensemble for a model :mod:`rsed.inference.fast` cannot split: the
    per-step part keeps the steps, the window part predicts whole windows."""

    def __init__(self, model):
        self.model, self.tau = model, int(model.input_shape[1])

    def embed(self, steps: np.ndarray) -> np.ndarray:
        return np.array(steps, np.float32)

    def windows(self, steps: np.ndarray) -> np.ndarray:
        from ..features.windows import sliding_windows
        from .sliding import predict_windows

        return predict_windows(self.model, sliding_windows(steps, self.tau))


class StreamMember:
    """One detector's sliding ensemble over a stream of normalised steps ``[k, F, M]``.

    The recurrent kernels are read once: the model's weights must not change while it monitors.
    """

    def __init__(self, model, spec):
        self.spec = spec
        split = sliding_ensemble(model)
        if split is None:
            split = _DirectSplit(model)
            self._predict = split.windows
        else:
            self._predict = functools.partial(split.windows, kernels=split.recurrent_kernels())
        self._split = split
        self.tau = split.tau
        self._rows = None  # per-step parts of the steps from the first window not yet predicted
        self._windows = np.zeros((0, self.tau), np.float32)  # the last tau - 1 window predictions
        self.n_steps = 0
        self.n_windows = 0

    def feed(self, steps: np.ndarray) -> np.ndarray:
        """New steps in; the probabilities that became final (float64, in step order)."""
        if not len(steps):
            return np.zeros(0)
        rows = self._split.embed(steps)
        self._rows = rows if self._rows is None else np.concatenate([self._rows, rows])
        self.n_steps += len(steps)
        new = self.n_steps - self.tau + 1 - self.n_windows
        if new <= 0:
            return np.zeros(0)
        with one_blas_thread():
            predicted = self._predict(self._rows)
        self._rows = self._rows[new:]
        self.n_windows += new
        return self._final(predicted, new)

    def flush(self) -> np.ndarray:
        """The last tau - 1 steps, averaged over the windows that cover them (as a whole file ends)."""
        if self.n_steps == 0:
            return np.zeros(0)
        if self.n_windows == 0:  # shorter than one window: padded by repeating the last step
            with one_blas_thread():
                predicted = self._predict(self._rows)
            self.n_windows = 1
            probs = sliding_average(predicted, self.n_steps)
        else:
            block = self._windows
            probs = sliding_average(block, len(block) + self.tau - 1)[len(block) :]
        self._rows = None
        return probs

    def _final(self, predicted: np.ndarray, new: int) -> np.ndarray:
        """Steps ``n_windows - new .. n_windows - 1``: every window covering them is predicted."""
        block = np.concatenate([self._windows, predicted])
        kept = len(self._windows)
        probs = sliding_average(block, len(block) + self.tau - 1)[kept : kept + new]
        self._windows = block[-(self.tau - 1) :] if self.tau > 1 else block[:0]
        return probs


class StreamClass:
    """A class's members (timestep ensemble) and its decision rule."""

    def __init__(self, ensemble: Ensemble, max_latency: float | None):
        self.ensemble = ensemble
        features = ensemble.features
        self.members = [StreamMember(model, spec) for model, spec in ensemble.members]
        self.tau_max = max(m.tau for m in self.members)
        lookahead = (features.n_fft // 2 - features.hop_length) / features.sample_rate  # a step's last frame needs this beyond the step
        self.final_delay = self.tau_max * features.step_seconds + lookahead
        self.rule = StreamRule(ensemble.postprocess, features.step_seconds, self.final_delay, max_latency)
        self._pending: list[list[np.ndarray]] = [[] for _ in self.members]
        self.n_final = 0

    def add(self, member_probs: list[np.ndarray]) -> np.ndarray:
        """Each member's newly final probabilities; the class's newly final ones (all members final)."""
        for pending, probs in zip(self._pending, member_probs, strict=True):
            if len(probs):
                pending.append(probs)
        joined = [np.concatenate(p) if p else np.zeros(0) for p in self._pending]
        ready = min(len(p) for p in joined)
        self._pending = [[p[ready:]] for p in joined]
        self.n_final += ready
        return ensemble_average([p[:ready] for p in joined]) if ready else np.zeros(0)


def default_max_latency(ensemble: Ensemble) -> float:
    """The default bound of a class's latency: its longest tau in seconds plus :data:`LATENCY_ALLOWANCE`."""
    return max(ensemble.timesteps) * ensemble.features.step_seconds + LATENCY_ALLOWANCE


class Monitor:
    """The trained detectors of every class applied to one endless stream.

    ``Monitor(ensembles)`` takes the ensembles of :func:`rsed.inference.detect.load_detectors`;
    ``feed(samples)`` takes the next ``[n]`` or ``[n, channels]`` samples (float, or integer
    PCM; any n, also 0) and returns the events decided by them; ``flush()`` ends the stream
    and returns the rest. Samples are converted as ``rsed detect`` converts files
    (:class:`rsed.audio_stream.SampleConverter`).

    Parameters
    ----------
    ensembles : ``{class: Ensemble}``
    sample_rate : rate of the fed samples (default: the detectors' rate)
    channels : channels of the fed samples, averaged to one
    max_latency : seconds, the bound of :class:`rsed.inference.stream_rule.StreamRule` for every class;
        "auto" (default) per class: its longest tau in seconds plus :data:`LATENCY_ALLOWANCE`;
        None: no bound (the decision waits for the probability to fall)
    name : the stream's name in the events
    record : keep every final probability (``probabilities(class)``), for tests and plots; off,
        nothing grows with the stream
    """

    def __init__(self, ensembles: dict[str, Ensemble], *, sample_rate: int | None = None, channels: int = 1, max_latency="auto", name: str = "stream", record: bool = False):
        from ..audio_stream import SampleConverter
        from ..errors import CacheError

        if not ensembles:
            raise CacheError(None, "no detectors to apply")
        self.name = name
        rates = sorted({e.features.sample_rate for e in ensembles.values()})
        self._input = SampleConverter(sample_rate or rates[0], channels, rates)
        self._frames = {e.features: StreamFrames(e.features) for e in ensembles.values()}
        self._step_frames = {features: np.zeros((0, features.n_mels), np.float32) for features in self._frames}
        self._classes = {}
        for class_name, ensemble in sorted(ensembles.items()):
            bound = default_max_latency(ensemble) if max_latency == "auto" else max_latency
            self._classes[class_name] = StreamClass(ensemble, bound)
        self._record = {c: [] for c in self._classes} if record else None
        self.ended = False

    @property
    def time(self) -> float:
        """Seconds of stream fed so far (at the detectors' rate, after resampling)."""
        features = next(iter(self._frames))
        return self._frames[features].n_samples / features.sample_rate

    def max_latency(self, class_name: str) -> float:
        """The latency bound the rule of ``class_name`` applies (inf: none)."""
        return self._classes[class_name].rule.max_latency

    def feed(self, samples) -> list[MonitorEvent]:
        """The next samples of the stream; the events decided by them, in decision order."""
        if self.ended:
            raise RuntimeError("the stream was flushed; make a new Monitor")
        return self._advance(self._input.feed(samples), end=False)

    def flush(self) -> list[MonitorEvent]:
        """End the stream: the last steps are decided as at the end of a file; the remaining events."""
        if self.ended:
            return []
        events = self._advance(self._input.flush(), end=True)
        self.ended = True
        if self._input.nonfinite:
            log.warning("%s: %d NaN or infinite sample(s) were set to zero", self.name, self._input.nonfinite)
        return events

    def probabilities(self, class_name: str) -> np.ndarray:
        """Every final probability of a class so far (needs ``record=True``)."""
        if self._record is None:
            raise RuntimeError("probabilities are kept only with Monitor(..., record=True)")
        parts = self._record[class_name]
        return np.concatenate(parts) if parts else np.zeros(0)

    def _advance(self, samples: dict[int, np.ndarray], end: bool) -> list[MonitorEvent]:
        steps = {}
        for features, stream in self._frames.items():
            frames = stream.feed(samples[features.sample_rate])
            if end:
                frames = np.concatenate([frames, stream.flush()])
            pending = np.concatenate([self._step_frames[features], frames])
            n = len(pending) // features.frames_per_step
            self._step_frames[features] = pending[n * features.frames_per_step :]  # a partial step waits (dropped at the end, as to_steps does)
            steps[features] = pending[: n * features.frames_per_step].reshape(n, features.frames_per_step, features.n_mels)
        events = []
        for class_name, stream in self._classes.items():
            features = stream.ensemble.features
            member_probs = []
            for member in stream.members:
                probs = member.feed(member.spec.normalise(steps[features]))
                member_probs.append(np.concatenate([probs, member.flush()]) if end else probs)
            probs = stream.add(member_probs)
            if self._record is not None and len(probs):
                self._record[class_name].append(probs)
            found = stream.rule.push(probs) + (stream.rule.end() if end else [])
            events.extend(self._event(class_name, features, d) for d in found)
        return sorted(events, key=lambda e: (e.decided_at, e.onset, e.class_name))

    def _event(self, class_name: str, features: FeatureConfig, found) -> MonitorEvent:
        step, now = features.step_seconds, self._frames[features].n_samples / features.sample_rate
        offset = None if found.offset_step is None else min(found.offset_step * step, now)  # the last step may end after the stream
        return MonitorEvent(self.name, class_name, found.onset_step * step, offset, found.peak_step * step, found.peak_probability, now, found.reason)
