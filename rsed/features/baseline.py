"""The DCASE 2017 challenge baseline, the paper's "FNN" row (NOTES section 5): its features, and where its other stages are.

Each stage mirrors the challenge's baseline system with our own code on well-kept libraries:

- features: 40 log mel bands of the magnitude spectrum (40 ms Hamming window, 20 ms hop,
  n_fft 2048, librosa), normalised with the training set's mean and standard deviation, five
  neighbouring frames (centred, edge-padded) stacked into one 200-value vector per frame;
- model and training (:mod:`rsed.training.baseline`): :func:`rsed.models.build_fnn`, one frame
  in, one event probability out, trained on every training frame with Adam and early
  stopping on the validation frame accuracy; a trained baseline is a folder of its own
  (:mod:`rsed.models.baseline_detector`);
- decision (:mod:`rsed.inference.baseline`): frame probability > 0.5, a 27-frame (0.54 s)
  median filter, and every contiguous active region becomes an event.

This module imports no Keras: feature extraction runs in worker processes that should not
load TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..audio import load_audio
from ..config import BaselineFeatureConfig

#: log(mel + EPS), the baseline's floor (numpy.spacing(1), about 2.2e-16).
EPS = float(np.spacing(1))


# --------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------


def baseline_logmel(y: np.ndarray, config: BaselineFeatureConfig) -> np.ndarray:
    """Log mel band energies of the baseline: ``y [n] -> [1 + n // hop, n_mels]`` float32.

    ``ln(mel @ |STFT| + EPS)`` with an asymmetric (periodic) Hamming window of
    ``win_length`` samples zero-padded to ``n_fft``, centred frames (``pad_mode`` padding)
    and Slaney mel filters, as the challenge baseline computed them with librosa.
    """
    import librosa
    import scipy.signal

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"expected a non-empty mono signal of shape (n,), got shape {y.shape}")
    window = scipy.signal.get_window(config.window, config.win_length, fftbins=True)
    spectrum = np.abs(
        librosa.stft(
            y,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            win_length=config.win_length,
            window=window,
            center=True,
            pad_mode=config.pad_mode,
        )
    )  # (1 + n_fft // 2, T)
    if config.power != 1.0:
        spectrum = spectrum**config.power
    basis = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax)
    return np.log(basis @ spectrum + EPS).T.astype(np.float32)  # (T, n_mels)


def extract_baseline_file(path: str | Path, config: BaselineFeatureConfig) -> np.ndarray:
    """Load an audio file at ``config.sample_rate`` and return its :func:`baseline_logmel` (cache extractor)."""
    return baseline_logmel(load_audio(path, sample_rate=config.sample_rate), config)


def event_roll_labels(n_frames: int, onset: float | None, offset: float | None, frame_seconds: float) -> np.ndarray:
    """The baseline's frame targets [n_frames] uint8: frames ``floor(onset / hop)`` to ``ceil(offset / hop) - 1``.

    The baseline's ``EventRoll`` (dcase_framework/metadata.py) marks frame t active when
    ``[t * hop, (t + 1) * hop)`` overlaps the event, so the frame holding the onset counts even
    when its centre (t * hop, centred frames) lies before it; rsed's CRNN labels
    (:func:`rsed.features.frame_labels`) start at the first centre at or after the onset. All
    zeros when ``onset`` is None; cut or zero-padded to ``n_frames``.
    """
    labels = np.zeros(n_frames, dtype=np.uint8)
    if onset is None:
        return labels
    if offset is None:
        raise ValueError("an event needs both an onset and an offset")
    first, end = int(np.floor(onset / frame_seconds)), int(np.ceil(offset / frame_seconds))
    labels[max(first, 0) : max(end, 0)] = 1
    return labels


def context_offsets(context: int) -> np.ndarray:
    """Frame offsets of a centred window: 5 -> [-2, -1, 0, 1, 2] (the baseline's floor/ceil split)."""
    if context < 1:
        raise ValueError(f"context must be at least 1 frame, got {context}")
    return np.arange(-(context // 2), context - context // 2)


def stack_context(frames: np.ndarray, context: int) -> np.ndarray:
    """Stack each frame with its neighbours: ``[T, M] -> [T, context * M]``, frame-major.

    Row t holds frames t - context//2 .. t + (context-1)//2 one after the other; frames
    beyond either end repeat the first or last frame (the baseline's padding).
    """
    frames = np.asarray(frames)
    if frames.ndim != 2 or frames.shape[0] == 0:
        raise ValueError(f"expected frames of shape (T > 0, M), got {frames.shape}")
    n = frames.shape[0]
    index = np.clip(np.arange(n)[:, None] + context_offsets(context)[None, :], 0, n - 1)  # (T, context)
    return frames[index].reshape(n, -1)


__all__ = ["EPS", "baseline_logmel", "extract_baseline_file", "event_roll_labels", "context_offsets", "stack_context"]
