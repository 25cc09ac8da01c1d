"""Frame labels from an event's onset and offset, and frames grouped into model steps."""

from __future__ import annotations

import numpy as np

from ..config import FeatureConfig


def frame_times(n_frames: int, config: FeatureConfig) -> np.ndarray:
    """Centre time in seconds of each frame, ``index * hop / sr`` (librosa, centre=True) [n_frames]."""
    return np.arange(n_frames) * config.hop_length / config.sample_rate


def frame_labels(n_frames: int, onset: float | None, offset: float | None, config: FeatureConfig) -> np.ndarray:
    """Frame targets [n_frames] uint8: 1 where the frame centre time lies in ``[onset, offset)``.

    All zeros when ``onset`` is None (a mixture without an event).
    """
    labels = np.zeros(n_frames, dtype=np.uint8)
    if onset is None:
        return labels
    if offset is None:
        raise ValueError("an event needs both an onset and an offset")
    times = frame_times(n_frames, config)
    labels[(times >= onset) & (times < offset)] = 1
    return labels


def to_steps(frames: np.ndarray, labels: np.ndarray | None, frames_per_step: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Group frames into model steps of ``frames_per_step`` frames; drop a trailing partial step.

    Parameters
    ----------
    frames : np.ndarray [shape=(T, n_mels)]
    labels : np.ndarray [shape=(T,)] of 0/1, or None
    frames_per_step : frames per step (``FeatureConfig.frames_per_step``, 4 by default)

    Returns
    -------
    steps : np.ndarray [shape=(T // frames_per_step, frames_per_step, n_mels)], a view when
        ``frames`` is C-contiguous
    step_labels : np.ndarray [shape=(T // frames_per_step,)] uint8, 1 when at least half of
        the step's frames are positive; None when ``labels`` is None
    """
    if frames_per_step < 1:
        raise ValueError(f"frames_per_step must be positive, got {frames_per_step}")
    frames = np.asarray(frames)
    n_steps = frames.shape[0] // frames_per_step
    used = n_steps * frames_per_step
    steps = frames[:used].reshape(n_steps, frames_per_step, *frames.shape[1:])
    if labels is None:
        return steps, None
    labels = np.asarray(labels)
    if labels.shape[0] != frames.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {frames.shape[0]} frames")
    positives = labels[:used].reshape(n_steps, frames_per_step).astype(np.int64).sum(axis=1)
    return steps, (2 * positives >= frames_per_step).astype(np.uint8)
