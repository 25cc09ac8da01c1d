"""Windows of tau steps for training and inference (pure numpy).

A clip's features are ``steps [S, frames_per_step, n_mels]`` with ``labels [S]``; a window is
``tau`` consecutive steps. Training draws windows with a fixed share of windows that hold
event steps, because positive steps are only 2-4 % of the data (paper Table 1).
"""

from __future__ import annotations

from dataclasses import dataclass

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


class WindowSampler:
    """Draws training batches of windows; deterministic in (seed, epoch, batch index).

    ``positive_fraction`` of each batch are windows that contain at least one event step
    (centred anywhere around the event); the rest are drawn uniformly over all windows.
    """

    def __init__(self, sequences: list[StepSequence], tau: int, *, positive_fraction: float = 0.5, seed: int = 0):
        if not sequences:
            raise ValueError("no training sequences")
        self.sequences = [s for s in sequences if s.steps.shape[0] >= tau]
        if not self.sequences:
            raise ValueError(f"no training clip is at least tau={tau} steps long")
        self.tau = tau
        self.positive_fraction = positive_fraction
        self.seed = seed
        self._lengths = np.array([s.steps.shape[0] - tau + 1 for s in self.sequences])
        self._cum = np.cumsum(self._lengths)
        positives = []  # (sequence index, window start) pairs of windows holding an event step
        for i, seq in enumerate(self.sequences):
            event_steps = np.flatnonzero(seq.labels)
            if event_steps.size:
                lo = max(0, event_steps[0] - tau + 1)
                hi = min(seq.steps.shape[0] - tau, event_steps[-1])
                positives.extend((i, start) for start in range(lo, hi + 1))
        self._positives = np.array(positives, dtype=np.int64).reshape(-1, 2)

    @property
    def n_windows(self) -> int:
        """Number of distinct windows (hop one step) over all sequences."""
        return int(self._cum[-1])

    def batch(self, batch_size: int, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """One batch: ``x [B, tau, F, M, 1]`` float32 and ``y [B, tau, 1]`` float32."""
        rng = np.random.default_rng([self.seed, epoch, index])
        n_pos = int(round(batch_size * self.positive_fraction)) if len(self._positives) else 0
        picks = []
        if n_pos:
            rows = self._positives[rng.integers(0, len(self._positives), n_pos)]
            picks.extend((int(i), int(s)) for i, s in rows)
        flat = rng.integers(0, self.n_windows, batch_size - n_pos)
        seq_idx = np.searchsorted(self._cum, flat, side="right")
        starts = flat - np.concatenate([[0], self._cum[:-1]])[seq_idx]
        picks.extend((int(i), int(s)) for i, s in zip(seq_idx, starts))
        x = np.stack([self.sequences[i].steps[s : s + self.tau] for i, s in picks])
        y = np.stack([self.sequences[i].labels[s : s + self.tau] for i, s in picks])
        return x[..., None].astype(np.float32, copy=False), y[..., None].astype(np.float32)


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
