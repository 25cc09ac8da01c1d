"""Sliding ensemble and the paper's two-threshold event decision (section 2.5, Figure 4).

All functions are pure numpy on per-step probabilities; times are in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import PostprocessConfig
from ..data.layout import MixtureEvent


@dataclass(frozen=True)
class Detection:
    """One detected event: times in seconds, steps as indices into the probability sequence."""

    onset: float
    offset: float
    peak_probability: float
    onset_step: int
    peak_step: int
    offset_step: int


def sliding_average(window_probs: np.ndarray, n_steps: int) -> np.ndarray:
    """Average overlapping window predictions made with hop one step (the sliding ensemble).

    Parameters
    ----------
    window_probs : np.ndarray [shape=(n_windows, tau)]; window w covers steps w .. w+tau-1.
    n_steps : length of the sequence; steps no window covers (a clip shorter than tau that
        was padded) are dropped by truncation, so ``n_windows + tau - 1 >= n_steps`` must hold.

    Returns
    -------
    probs : np.ndarray [shape=(n_steps,)], the mean of every window prediction of each step.
    """
    window_probs = np.asarray(window_probs, dtype=np.float64)
    if window_probs.ndim != 2:
        raise ValueError(f"window_probs must be (n_windows, tau), got shape {window_probs.shape}")
    n_windows, tau = window_probs.shape
    total = n_windows + tau - 1
    if total < n_steps:
        raise ValueError(f"{n_windows} windows of {tau} steps cover {total} steps, fewer than {n_steps}")
    sums = np.zeros(total)
    counts = np.zeros(total)
    for offset in range(tau):  # tau vectorised adds instead of n_windows * tau scalar ones
        sums[offset : offset + n_windows] += window_probs[:, offset]
        counts[offset : offset + n_windows] += 1
    return (sums / counts)[:n_steps]


def detect_event(probs: np.ndarray, step_seconds: float, config: PostprocessConfig) -> Detection | None:
    """The paper's decision: at most one event per clip.

    An event is present when the peak probability exceeds t1 (``presence_threshold``). The
    onset is found by :func:`find_onset` in the look-back window of ``lookback_seconds`` before
    the peak (the peak included); the offset is the start of the first step after the peak
    with p <= t2, or the end of the clip. Offsets are not scored.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 1 or probs.size == 0:
        raise ValueError(f"probs must be a non-empty 1-D sequence, got shape {probs.shape}")
    peak = int(np.argmax(probs))
    if not probs[peak] > config.presence_threshold:
        return None
    return event_at_peak(probs, peak, step_seconds, config)


def event_at_peak(probs: np.ndarray, peak: int, step_seconds: float, config: PostprocessConfig) -> Detection:
    """The event around the step ``peak`` of ``probs``: onset (:func:`find_onset`) and offset as
    :func:`detect_event` finds them.

    ``rsed detect`` calls it with a peak found in one segment of a long recording and the
    whole recording's sequence, so the onset search is not cut at the segment's start.
    """
    probs = np.asarray(probs, dtype=np.float64)
    onset_step = find_onset(probs, peak, step_seconds, config)
    after = np.flatnonzero(probs[peak + 1 :] <= config.onset_threshold)
    offset_step = peak + 1 + int(after[0]) if after.size else probs.size
    return Detection(
        onset=onset_step * step_seconds,
        offset=offset_step * step_seconds,
        peak_probability=float(probs[peak]),
        onset_step=onset_step,
        peak_step=peak,
        offset_step=offset_step,
    )


def lookback_steps(step_seconds: float, config: PostprocessConfig) -> int:
    """The onset look-back in whole steps: ``lookback_seconds / step_seconds``, rounded."""
    return int(round(config.lookback_seconds / step_seconds))


def find_onset(probs: np.ndarray, peak: int, step_seconds: float, config: PostprocessConfig) -> int:
    """The onset step of the event peaking at ``peak``, searched in the look-back window
    ``[peak - lookback, peak]`` (cut at the sequence start) by ``config.onset_rule``:

    - 'earliest': the first step with p > t2 in the window, also when steps at or below t2
      lie between it and the peak;
    - 'contiguous': walking back from the peak while p > t2, the last step reached (the start
      of the run above t2 that holds the peak, cut at the window start).

    The peak itself when it is not above t2. The one place the onset rule lives:
    :func:`detect_event` (through :func:`event_at_peak`, which ``rsed detect`` calls for each
    segment of a long recording) and the stream monitor (:mod:`rsed.inference.stream_rule`,
    which passes the recent probabilities) all call it.
    """
    start = max(0, peak - lookback_steps(step_seconds, config))
    above = np.asarray(probs[start : peak + 1]) > config.onset_threshold
    if not above[-1]:
        return peak
    if config.onset_rule == "contiguous":
        below = np.flatnonzero(~above)
        return start + int(below[-1]) + 1 if below.size else start
    return start + int(np.argmax(above))


def ensemble_average(sequences: list[np.ndarray]) -> np.ndarray:
    """Timestep ensemble (Table 2): the mean of per-step probability sequences of equal length."""
    if not sequences:
        raise ValueError("an ensemble needs at least one probability sequence")
    lengths = {len(s) for s in sequences}
    if len(lengths) != 1:
        raise ValueError(f"probability sequences differ in length: {sorted(lengths)}")
    return np.mean(np.stack([np.asarray(s, dtype=np.float64) for s in sequences]), axis=0)


def detect_all(probs: dict[str, np.ndarray], class_name: str, config: PostprocessConfig, step_seconds: float) -> list[MixtureEvent]:
    """:func:`detect_event` on every clip of ``{filename: [n_steps]}``: the detections as event-list entries."""
    events = []
    for name, p in probs.items():
        det = detect_event(p, step_seconds, config)
        if det is not None:
            events.append(MixtureEvent(name, round(det.onset, 4), round(det.offset, 4), class_name))
    return events
