"""Windows of tau steps for training and inference (pure numpy).

A clip's features are ``steps [S, frames_per_step, n_mels]`` with ``labels [S]``; a window is
``tau`` consecutive steps. Training draws windows with a fixed share of windows that hold
event steps, because positive steps are only 2-4 % of the data (paper Table 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class StepSequence:
    """One clip as model steps: normalised ``steps [S, F, M]`` float32 and ``labels [S]`` uint8."""

    name: str
    steps: np.ndarray
    labels: np.ndarray


def sliding_windows(steps: np.ndarray, tau: int) -> np.ndarray:
    """All windows with hop one step: ``[S, F, M] -> [max(S - tau + 1, 1), tau, F, M]`` (a view).

    A clip shorter than ``tau`` steps is padded at the end by repeating its last step, so it
    still yields one window; callers truncate the predictions to ``S``.
    """
    if steps.shape[0] == 0:
        raise ValueError("a clip needs at least one step")
    if steps.shape[0] < tau:
        pad = np.repeat(steps[-1:], tau - steps.shape[0], axis=0)
        steps = np.concatenate([steps, pad], axis=0)
    view = np.lib.stride_tricks.sliding_window_view(steps, tau, axis=0)  # (n, F, M, tau)
    return np.moveaxis(view, -1, 1)


class WindowIndex:
    """Which windows a training batch holds, decided from the step labels alone (no features).

    Windows are ``(clip, start step)`` pairs over the clips that are at least ``tau`` steps
    long. ``positive_fraction`` of each batch are windows that contain at least one event
    step (centred anywhere around the event); the rest are drawn uniformly over all windows.
    Deterministic in (seed, epoch, batch index), so every window source built on the same
    labels (in memory or streamed from disk) draws the same windows.
    """

    def __init__(self, labels: Sequence[np.ndarray], tau: int, *, positive_fraction: float = 0.5, seed: int = 0):
        if not len(labels):
            raise ValueError("no training sequences")
        lengths = np.array([len(lab) for lab in labels], dtype=np.int64)
        #: Indices (into ``labels``) of the clips long enough for one window.
        self.clips = np.flatnonzero(lengths >= tau)
        if not self.clips.size:
            raise ValueError(f"no training clip is at least tau={tau} steps long")
        self.tau = tau
        self.positive_fraction = positive_fraction
        self.seed = seed
        self._lengths = lengths[self.clips] - tau + 1
        self._cum = np.cumsum(self._lengths)
        positives = []  # (clip position, window start) pairs of windows holding an event step
        for i, clip in enumerate(self.clips):
            event_steps = np.flatnonzero(labels[clip])
            if event_steps.size:
                lo = max(0, event_steps[0] - tau + 1)
                hi = min(lengths[clip] - tau, event_steps[-1])
                positives.extend((i, start) for start in range(lo, hi + 1))
        self._positives = np.array(positives, dtype=np.int64).reshape(-1, 2)
        # Share of event steps in the average window: over all windows, and over the windows holding event steps.
        window_sums = [np.convolve(np.asarray(labels[c], np.float64), np.ones(tau), mode="valid") for c in self.clips]
        self.natural_rate = float(sum(w.sum() for w in window_sums) / (self.n_windows * tau))
        self._positive_rate = float(np.mean([window_sums[i][start] for i, start in self._positives]) / tau) if len(self._positives) else 0.0

    @property
    def n_windows(self) -> int:
        """Number of distinct windows (hop one step) over all usable clips."""
        return int(self._cum[-1])

    @property
    def n_positive_windows(self) -> int:
        """Number of distinct windows holding at least one event step."""
        return len(self._positives)

    def _n_positive(self, batch_size: int) -> int:
        """How many windows of a batch are drawn from the windows holding event steps."""
        return int(round(batch_size * self.positive_fraction)) if len(self._positives) else 0

    def sampled_rate(self, batch_size: int) -> float:
        """Expected share of event steps in a batch of ``batch_size`` windows (``natural_rate`` when nothing is oversampled)."""
        n_pos = self._n_positive(batch_size)
        return (n_pos * self._positive_rate + (batch_size - n_pos) * self.natural_rate) / batch_size

    def picks(self, batch_size: int, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The windows of one batch: ``clip [B]`` (indices into ``labels``) and ``start [B]`` (steps)."""
        rng = np.random.default_rng([self.seed, epoch, index])
        n_pos = self._n_positive(batch_size)
        rows = self._positives[rng.integers(0, len(self._positives), n_pos)] if n_pos else np.empty((0, 2), np.int64)
        flat = rng.integers(0, self.n_windows, batch_size - n_pos)
        pos = np.searchsorted(self._cum, flat, side="right")
        starts = flat - np.concatenate([[0], self._cum[:-1]])[pos]
        clip_pos = np.concatenate([rows[:, 0], pos])
        return self.clips[clip_pos], np.concatenate([rows[:, 1], starts])


class WindowSampler:
    """Training batches of windows from clips held in memory; deterministic in (seed, epoch, batch index).

    The windows are chosen by :class:`WindowIndex` (balanced: ``positive_fraction`` of each
    batch hold event steps).
    """

    def __init__(self, sequences: list[StepSequence], tau: int, *, positive_fraction: float = 0.5, seed: int = 0):
        self.sequences = list(sequences)
        self.index = WindowIndex([s.labels for s in self.sequences], tau, positive_fraction=positive_fraction, seed=seed)
        self.tau = tau

    @property
    def n_windows(self) -> int:
        """Number of distinct windows (hop one step) over all sequences."""
        return self.index.n_windows

    @property
    def window_shape(self) -> tuple[int, int, int]:
        """Shape of one window without the channel axis: ``(tau, F, M)``."""
        return (self.tau, *self.sequences[self.index.clips[0]].steps.shape[1:])

    def batch(self, batch_size: int, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """One batch: ``x [B, tau, F, M, 1]`` float32 and ``y [B, tau, 1]`` float32."""
        clips, starts = self.index.picks(batch_size, epoch, index)
        x = np.stack([self.sequences[i].steps[s : s + self.tau] for i, s in zip(clips, starts, strict=True)])
        y = np.stack([self.sequences[i].labels[s : s + self.tau] for i, s in zip(clips, starts, strict=True)])
        return x[..., None].astype(np.float32, copy=False), y[..., None].astype(np.float32)

    def close(self) -> None:
        """Nothing to release (the streaming sampler closes its file here)."""


def tiled_windows(sequences: list[StepSequence], tau: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of every sequence (hop tau), for a fixed validation set."""
    xs, ys = [], []
    for seq in sequences:
        n = seq.steps.shape[0] // tau
        if n == 0:
            continue
        xs.append(seq.steps[: n * tau].reshape(n, tau, *seq.steps.shape[1:]))
        ys.append(seq.labels[: n * tau].reshape(n, tau))
    if not xs:
        raise ValueError(f"no validation clip is at least tau={tau} steps long")
    return np.concatenate(xs)[..., None].astype(np.float32), np.concatenate(ys)[..., None].astype(np.float32)
