"""The DCASE 2017 challenge baseline, the paper's "FNN" row (NOTES section 5): features, training, decisions.

Each stage mirrors the challenge's baseline system with our own code on well-kept libraries:

- features: 40 log mel bands of the magnitude spectrum (40 ms Hamming window, 20 ms hop,
  n_fft 2048, librosa), normalised with the training set's mean and standard deviation, five
  neighbouring frames (centred, edge-padded) stacked into one 200-value vector per frame;
- model: :func:`rsed.models.build_fnn`, one frame in, one event probability out;
- training: every training frame once per epoch in shuffled batches of 256, Adam, binary
  cross-entropy, early stopping on the validation frame accuracy;
- decision: frame probability > 0.5, a 27-frame (0.54 s) median filter, and every contiguous
  active region becomes an event.

A trained baseline lives in its own folder (``model.keras`` + ``baseline.json``), a format
``rsed detect`` ignores, so a run's CRNN folders are never mixed with it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from . import __version__
from .audio import load_audio
from .config import BaselineFeatureConfig, BaselineModelConfig, BaselinePostprocessConfig, BaselineTrainConfig, from_dict
from .data.layout import MixtureEvent
from .errors import CacheError
from .fileio import atomic_path, write_json

#: log(mel + EPS), the baseline's floor (numpy.spacing(1), about 2.2e-16).
EPS = float(np.spacing(1))
SPEC_FILE = "baseline.json"
MODEL_FILE = "model.keras"
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


def _context_offsets(context: int) -> np.ndarray:
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
    index = np.clip(np.arange(n)[:, None] + _context_offsets(context)[None, :], 0, n - 1)  # (T, context)
    return frames[index].reshape(n, -1)


class FrameBatches(keras.utils.PyDataset):
    """Batches of stacked frames from many clips: ``x [B, context * M]`` float32, ``y [B, 1]`` float32.

    Clips are stored once, edge-padded by context//2 frames on each side, and the context
    windows are gathered per batch, so memory stays at one copy of the frames. With
    ``shuffle`` every epoch visits every frame once in an order drawn from (seed, epoch).
    """

    def __init__(self, clips: list[tuple[np.ndarray, np.ndarray]], context: int, batch_size: int, *, shuffle: bool, seed: int = 0):
        super().__init__(workers=1, use_multiprocessing=False)
        if not clips:
            raise ValueError("no clips to draw frames from")
        offsets = _context_offsets(context)
        lo, hi = int(-offsets[0]), int(offsets[-1])
        padded, centres, labels, start = [], [], [], 0
        for frames, clip_labels in clips:
            if frames.shape[0] != clip_labels.shape[0]:
                raise ValueError(f"{clip_labels.shape[0]} labels for {frames.shape[0]} frames")
            padded.append(np.pad(np.asarray(frames, np.float32), ((lo, hi), (0, 0)), mode="edge"))
            centres.append(start + lo + np.arange(frames.shape[0]))
            labels.append(np.asarray(clip_labels, np.float32))
            start += frames.shape[0] + lo + hi
        self.frames = np.concatenate(padded)  # (sum(T + context - 1), M)
        self.centres = np.concatenate(centres)  # (N,) row of each frame in self.frames
        self.labels = np.concatenate(labels)[:, None]  # (N, 1)
        self.offsets = offsets
        self.batch_size, self.shuffle, self.seed = int(batch_size), shuffle, seed
        self.epoch = 0

    def __len__(self):
        return -(-len(self.centres) // self.batch_size)

    def order(self) -> np.ndarray:
        """Frame order of the current epoch."""
        if not self.shuffle:
            return np.arange(len(self.centres))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.centres))

    def __getitem__(self, index):
        if getattr(self, "_order_epoch", None) != self.epoch:
            self._order, self._order_epoch = self.order(), self.epoch
        picks = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        rows = self.centres[picks][:, None] + self.offsets[None, :]  # (B, context)
        return self.frames[rows].reshape(len(picks), -1), self.labels[picks]


class _EpochTracker(keras.callbacks.Callback):
    """Tells the batch source which epoch runs, so a resumed run draws the same order."""

    def __init__(self, batches: FrameBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.epoch = epoch


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------


def train_baseline(
    model: keras.Model,
    train: list[tuple[np.ndarray, np.ndarray]],
    validation: list[tuple[np.ndarray, np.ndarray]],
    context: int,
    config: BaselineTrainConfig,
    out_dir: str | Path,
    *,
    verbose: int | None = None,
) -> keras.callbacks.History:
    """Fit the baseline on normalised frames ``[(frames [T, M], labels [T]), ...]``; keep the best weights.

    Writes ``train_log.csv``, ``best.weights.h5`` (highest validation frame accuracy) and
    ``backup/`` (an interrupted run resumes from its last finished epoch) into ``out_dir``.
    Early stopping watches the validation accuracy (improvement > ``min_delta``) and may
    stop only after ``min_epochs`` epochs.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    batches = FrameBatches(train, context, config.batch_size, shuffle=True, seed=config.seed)
    val_batches = FrameBatches(validation, context, 4096, shuffle=False)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryAccuracy(name="binary_accuracy")],
    )
    best = out_dir / "best.weights.h5"
    monitor = "val_binary_accuracy"
    callbacks = [
        _EpochTracker(batches),
        keras.callbacks.BackupAndRestore(str(out_dir / "backup")),
        keras.callbacks.ModelCheckpoint(str(best), monitor=monitor, mode="max", save_best_only=True, save_weights_only=True),
        keras.callbacks.EarlyStopping(monitor=monitor, mode="max", min_delta=config.min_delta, patience=config.patience, start_from_epoch=config.min_epochs),
        keras.callbacks.CSVLogger(str(out_dir / "train_log.csv"), append=True),
    ]
    if verbose is None:
        verbose = 1 if sys.stderr.isatty() else 2
    history = model.fit(batches, epochs=config.max_epochs, validation_data=val_batches, callbacks=callbacks, verbose=verbose)
    if best.exists():
        model.load_weights(str(best))
    return history


# --------------------------------------------------------------------------------------
# A trained baseline as a folder
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


def save_baseline(folder: str | Path, model: keras.Model, spec: BaselineSpec) -> Path:
    """Write the model then its description; the description's presence marks the folder complete."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / MODEL_FILE) as tmp:
        keras_tmp = tmp.with_suffix(".keras")
        model.save(str(keras_tmp))
        keras_tmp.replace(tmp)
    write_json(folder / SPEC_FILE, spec.to_json())
    return folder


def is_complete_baseline(folder: str | Path) -> bool:
    """True when ``folder`` holds a finished baseline."""
    folder = Path(folder)
    return (folder / SPEC_FILE).is_file() and (folder / MODEL_FILE).is_file()


def load_baseline(folder: str | Path) -> tuple[keras.Model, BaselineSpec]:
    """Load a baseline folder (Keras ``safe_mode=True``) with a clear error when it is unusable."""
    folder = Path(folder)
    path = folder / SPEC_FILE
    if not path.is_file():
        raise CacheError(folder, f"not a baseline folder (no {SPEC_FILE})")
    try:
        spec = BaselineSpec.from_json(json.loads(path.read_text(encoding="utf-8")), path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CacheError(path, f"not valid JSON ({exc})") from None
    try:
        model = keras.saving.load_model(str(folder / MODEL_FILE), compile=False, safe_mode=True)
    except (OSError, ValueError, TypeError) as exc:
        raise CacheError(folder / MODEL_FILE, f"cannot load model ({exc})") from None
    return model, spec


# --------------------------------------------------------------------------------------
# Inference and decisions
# --------------------------------------------------------------------------------------


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


__all__ = [
    "baseline_logmel",
    "extract_baseline_file",
    "stack_context",
    "FrameBatches",
    "train_baseline",
    "BaselineSpec",
    "save_baseline",
    "load_baseline",
    "is_complete_baseline",
    "frame_probabilities",
    "median_kernel",
    "baseline_events",
    "baseline_detect_all",
]
