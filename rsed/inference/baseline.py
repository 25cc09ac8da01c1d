"""The challenge baseline's inference: frame probabilities and its decision (threshold, median filter, regions)."""

from __future__ import annotations

import keras
import numpy as np

from ..config import BaselinePostprocessConfig
from ..data.layout import MixtureEvent
from ..features.baseline import stack_context
from ..models.baseline_detector import BaselineSpec


def frame_probabilities(model: keras.Model, spec: BaselineSpec, logmel: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Event probability of every frame of a clip: ``logmel [T, n_mels] -> [T]`` float64."""
    x = stack_context(spec.normalise(logmel), spec.features.context)
    out = [np.asarray(model.predict_on_batch(x[i : i + batch_size]))[:, 0] for i in range(0, x.shape[0], batch_size)]
    return np.concatenate(out).astype(np.float64)


def median_kernel(config: BaselinePostprocessConfig, frame_seconds: float) -> int:
    """Median filter length in frames: 0.54 s / 0.02 s = 27; an even count is made odd (+1)."""
    n = max(1, int(round(config.median_seconds / frame_seconds)))
    return n if n % 2 else n + 1


def baseline_events(probs: np.ndarray, frame_seconds: float, config: BaselinePostprocessConfig) -> list[tuple[float, float]]:
    """The baseline's decision on one clip: ``probs [T]`` -> ``[(onset, offset), ...]`` in seconds.

    Frames with p > ``threshold`` are active; the activity is median filtered
    (``scipy.signal.medfilt``, zero beyond the clip ends) and each contiguous active region
    ``[start, end)`` becomes an event from ``start * frame_seconds`` to ``end * frame_seconds``.
    With ``max_events`` only the longest regions are kept (ties: the earlier), in time order.
    """
    import scipy.signal
    from dcase_util.data import DecisionEncoder

    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 1 or probs.size == 0:
        raise ValueError(f"probs must be a non-empty 1-D sequence, got shape {probs.shape}")
    active = (probs > config.threshold).astype(np.float64)
    smoothed = scipy.signal.medfilt(active, kernel_size=median_kernel(config, frame_seconds)) > 0.5
    regions = [(int(a), int(b)) for a, b in DecisionEncoder().find_contiguous_regions(smoothed)]
    if config.max_events is not None and len(regions) > config.max_events:
        keep = sorted(range(len(regions)), key=lambda i: (-(regions[i][1] - regions[i][0]), i))[: config.max_events]
        regions = [regions[i] for i in sorted(keep)]
    return [(a * frame_seconds, b * frame_seconds) for a, b in regions]


def baseline_detect_all(probs: dict[str, np.ndarray], class_name: str, config: BaselinePostprocessConfig, frame_seconds: float) -> list[MixtureEvent]:
    """:func:`baseline_events` of every clip as an event list (times rounded to 0.1 ms)."""
    events = []
    for name, p in probs.items():
        for onset, offset in baseline_events(p, frame_seconds, config):
            events.append(MixtureEvent(name, round(onset, 4), round(offset, 4), class_name))
    return events


__all__ = ["frame_probabilities", "median_kernel", "baseline_events", "baseline_detect_all"]
