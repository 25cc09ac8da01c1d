"""Per-step probabilities of a clip: the sliding ensemble over hop-one windows (section 2.5)."""

from __future__ import annotations

import keras
import numpy as np

from ..features.steps import to_steps
from ..features.windows import sliding_windows
from ..models.detector import DetectorSpec
from .fast import sliding_ensemble
from .postprocessing import ensemble_average, sliding_average


def predict_windows(model: keras.Model, windows: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Per-step probabilities of each window: ``[n, tau, F, M] -> [n, tau]`` (inference mode)."""
    out = []
    for start in range(0, windows.shape[0], batch_size):
        chunk = np.ascontiguousarray(windows[start : start + batch_size], dtype=np.float32)[..., None]
        out.append(np.asarray(model.predict_on_batch(chunk))[..., 0])
    return np.concatenate(out, axis=0)


def predict_steps(model: keras.Model, steps: np.ndarray, batch_size: int = 512, *, fast: bool = True) -> np.ndarray:
    """Sliding ensemble of one model over one clip: ``steps [S, F, M] -> probs [S]``.

    Every window of tau steps with hop one is predicted and the overlapping predictions of
    each step are averaged. ``fast=True`` computes each step's convolutional embedding once
    and only the recurrences per window (:mod:`rsed.inference.fast`; same numbers within
    float32 rounding), falling back to the direct computation for a model it cannot split;
    ``fast=False`` is the direct computation, each step's embedding recomputed tau times.
    """
    if fast:
        ensemble = sliding_ensemble(model)
        if ensemble is not None:
            return ensemble(steps, batch_size)
    tau = int(model.input_shape[1])
    windows = sliding_windows(steps, tau)
    return sliding_average(predict_windows(model, windows, batch_size), steps.shape[0])


def clip_probabilities(detectors: list[tuple[keras.Model, DetectorSpec]], logmel: np.ndarray) -> np.ndarray:
    """Timestep ensemble of several detectors of one class on a clip's log-mel ``[T, n_mels]`` -> ``[S]``."""
    sequences = []
    for model, spec in detectors:
        steps, _ = to_steps(spec.normalise(logmel), None, spec.features.frames_per_step)
        sequences.append(predict_steps(model, steps))
    return ensemble_average(sequences)
