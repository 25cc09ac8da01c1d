"""The DCASE 2017 challenge baseline, the paper's "FNN" row (NOTES section 5): features and decisions.

Each stage mirrors the challenge's baseline system with our own code on well-kept libraries:

- features: 40 log mel bands of the magnitude spectrum (40 ms Hamming window, 20 ms hop,
  n_fft 2048, librosa), normalised with the training set's mean and standard deviation, five
  neighbouring frames (centred, edge-padded) stacked into one 200-value vector per frame;
- model and training (:mod:`rsed.training.baseline`): :func:`rsed.models.build_fnn`, one frame
  in, one event probability out, trained on every training frame with Adam and early
  stopping on the validation frame accuracy;
- decision: frame probability > 0.5, a 27-frame (0.54 s) median filter, and every contiguous
  active region becomes an event.

This module imports no Keras: feature extraction runs in worker processes that should not
load TensorFlow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..audio import load_audio
from ..config import BaselineFeatureConfig, BaselineModelConfig, BaselinePostprocessConfig, BaselineTrainConfig, from_dict
from ..data.layout import MixtureEvent
from ..errors import CacheError

#: log(mel + EPS), the baseline's floor (numpy.spacing(1), about 2.2e-16).
EPS = float(np.spacing(1))
FORMAT_VERSION = 1


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


# --------------------------------------------------------------------------------------
# A trained baseline's description
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaselineSpec:
    """Everything needed to apply a trained baseline to new audio."""

    class_name: str
    features: BaselineFeatureConfig
    model: BaselineModelConfig
    training: BaselineTrainConfig
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def normalise(self, logmel: np.ndarray) -> np.ndarray:
        """Standardise log mel frames ``[T, n_mels]`` with the training-set statistics."""
        return ((logmel - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)).astype(np.float32)

    def to_json(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "rsed_version": __version__,
            "class_name": self.class_name,
            "architecture": "fnn",
            "features": dataclasses.asdict(self.features),
            "model": dataclasses.asdict(self.model),
            "training": dataclasses.asdict(self.training),
            "normalisation": {"mean": list(map(float, self.mean)), "std": list(map(float, self.std))},
        }

    @classmethod
    def from_json(cls, data: dict, path: Path) -> "BaselineSpec":
        if data.get("format_version") != FORMAT_VERSION:
            raise CacheError(path, f"baseline format {data.get('format_version')!r}, this rsed reads {FORMAT_VERSION}")
        try:
            return cls(
                class_name=data["class_name"],
                features=from_dict(BaselineFeatureConfig, data["features"]),
                model=from_dict(BaselineModelConfig, data["model"]),
                training=from_dict(BaselineTrainConfig, data["training"]),
                mean=tuple(data["normalisation"]["mean"]),
                std=tuple(data["normalisation"]["std"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CacheError(path, f"malformed baseline description ({exc})") from None


# --------------------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------------------


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


__all__ = [
    "EPS",
    "baseline_logmel",
    "extract_baseline_file",
    "context_offsets",
    "stack_context",
    "BaselineSpec",
    "median_kernel",
    "baseline_events",
    "baseline_detect_all",
]
