"""The decision rule of ``rsed monitor``: the paper's two thresholds on an endless probability sequence.

The paper decides once per 30 s clip: an event when the clip's peak probability exceeds t1,
its onset the first step with p > t2 in the look-back before the peak, its offset the first step
after the peak with p <= t2 (or the clip's end). A stream has no clip, so :class:`StreamRule`
reads the class's final per-step probabilities one step at a time (docs/analysis.md, "Monitoring
a stream"):

1. **Presence.** A candidate opens at the first step with p > t1.
2. **Peak.** Its peak is the highest probability since it opened (the first of equal ones, as
   ``argmax``); each time the peak moves, its onset is searched in the look-back before it
   with :func:`rsed.inference.postprocessing.find_onset`, the same function the file rule uses.
3. **Confirmation.** The candidate is decided at the first step after its peak with p <= t2
   (the probability has fallen: the paper's offset, so the offset is known), or, when the
   probability has not fallen by then, at the last step whose decision keeps the latency
   (stream time of the decision minus the onset) within ``max_latency`` (offset unknown), or
   at the end of the stream (offset = the end, as the paper's "end of the clip").
4. **Once per event.** A decided candidate whose onset lies inside the previous event (before
   that event's offset step, or while its probability has not yet fallen to t2) is that
   event seen again, e.g. a second burst of one cry within the look-back: it is merged into
   it, not reported. After a decision forced by ``max_latency`` the rest of the event (until
   p <= t2) opens nothing.

On a clip with one excursion above t1 (more precisely: one run of p > t2 holding every step
above t1), and with ``max_latency`` not cutting in, this is exactly
:func:`rsed.inference.postprocessing.detect_event`: the same peak, onset and offset (tested).
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

import numpy as np

from ..config import PostprocessConfig
from .postprocessing import find_onset, lookback_steps

#: Why a candidate was decided.
FELL, MAX_LATENCY, END = "fall", "max-latency", "end"


@dataclass(frozen=True)
class StreamDetection:
    """One decided event of a class, in steps of the stream: ``offset_step`` None when unknown,
    ``decided_step`` the last step whose final probability the decision read."""

    onset_step: int
    peak_step: int
    peak_probability: float
    offset_step: int | None
    decided_step: int
    reason: str


@dataclass
class _Candidate:
    opened: int
    peak: int
    peak_value: float
    onset: int


class StreamRule:
    """The rule of the module docstring for one class.

    Parameters
    ----------
    config : the class's thresholds and look-back (``Ensemble.postprocess``)
    step_seconds : seconds per step
    final_delay : seconds from the start of step s until its probability is final in the
        stream (the longest tau of the ensemble in steps, plus the features' look-ahead);
        ``s * step_seconds + final_delay`` is the stream time at which step s can be decided
    max_latency : seconds; None or inf never forces a decision
    """

    def __init__(self, config: PostprocessConfig, step_seconds: float, final_delay: float, max_latency: float | None = None):
        if not step_seconds > 0:
            raise ValueError(f"step_seconds must be positive, got {step_seconds}")
        if max_latency is not None and not max_latency > 0:
            raise ValueError(f"max_latency must be positive, got {max_latency}")
        self.config = config
        self.step_seconds = float(step_seconds)
        self.final_delay = float(final_delay)
        self.max_latency = math.inf if max_latency is None else float(max_latency)
        self._lookback = lookback_steps(step_seconds, config)
        self._recent: collections.deque = collections.deque(maxlen=self._lookback + 1)  # p of the last lookback + 1 steps
        self._next = 0  # index of the next step
        self._candidate: _Candidate | None = None
        self._previous_end: float = -math.inf  # offset step of the last event (inf while its probability is above t2)

    @property
    def n_steps(self) -> int:
        """Steps read so far."""
        return self._next

    def push(self, probs: np.ndarray) -> list[StreamDetection]:
        """Read the next final probabilities (in order); the events they decide."""
        probs = np.asarray(probs, dtype=np.float64).ravel()
        found: list[StreamDetection] = []
        t1, t2 = self.config.presence_threshold, self.config.onset_threshold
        index = 0
        while index < probs.size:
            if self._candidate is None and self._previous_end != math.inf:
                # nothing open: jump to the next step above t1 (quiet stretches cost one numpy call)
                above = np.flatnonzero(probs[index:] > t1)
                quiet = probs[index : index + int(above[0])] if above.size else probs[index:]
                self._recent.extend(quiet.tolist())
                self._next += quiet.size
                index += quiet.size
                if not above.size:
                    break
            value = float(probs[index])
            self._recent.append(value)
            step = self._next
            self._next += 1
            index += 1
            self._step(step, value, t1, t2, found)
        return found

    def end(self) -> list[StreamDetection]:
        """The stream ended: decide the open candidate (offset = the end of the stream)."""
        candidate, self._candidate = self._candidate, None
        if candidate is None:
            return []
        return self._decide(candidate, self._next, self._next - 1, END)

    def _step(self, step: int, value: float, t1: float, t2: float, found: list) -> None:
        candidate = self._candidate
        if candidate is None:
            if self._previous_end == math.inf:  # the rest of an event decided before its probability fell
                if value <= t2:
                    self._previous_end = step
                return
            if not value > t1:
                return
            candidate = self._candidate = _Candidate(step, step, value, self._onset(step))
        elif value > candidate.peak_value:
            candidate.peak, candidate.peak_value, candidate.onset = step, value, self._onset(step)
        if step > candidate.peak and value <= t2:
            self._candidate = None
            found.extend(self._decide(candidate, step, step, FELL))
        elif self._latency(step + 1, candidate.onset) > self.max_latency:  # waiting one more step would exceed it
            self._candidate = None
            found.extend(self._decide(candidate, None, step, MAX_LATENCY))

    def _onset(self, peak: int) -> int:
        """:func:`find_onset` over the recent probabilities (``peak`` is the newest of them)."""
        first = peak + 1 - len(self._recent)
        return first + find_onset(np.fromiter(self._recent, np.float64), peak - first, self.step_seconds, self.config)

    def _latency(self, step: int, onset: int) -> float:
        """Stream time at which ``step`` is final, minus the onset time."""
        return (step - onset) * self.step_seconds + self.final_delay

    def _decide(self, candidate: _Candidate, offset: int | None, decided: int, reason: str) -> list[StreamDetection]:
        merged = candidate.onset < self._previous_end  # its onset lies inside the previous event
        self._previous_end = max(self._previous_end, math.inf if offset is None else offset) if merged else (math.inf if offset is None else offset)
        if merged:
            return []
        return [StreamDetection(candidate.onset, candidate.peak, candidate.peak_value, offset, decided, reason)]


__all__ = ["END", "FELL", "MAX_LATENCY", "StreamDetection", "StreamRule"]
