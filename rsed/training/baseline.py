"""The challenge baseline's training: frame batches with their context, and the fit with early stopping.

Its features are in :mod:`rsed.features.baseline`, its folder in
:mod:`rsed.models.baseline_detector`, its prediction and decisions in :mod:`rsed.inference.baseline`.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import keras
import numpy as np

from ..config import BaselineTrainConfig, config_hash
from ..features.baseline import context_offsets
from .resume import ResumableTraining


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
        offsets = context_offsets(context)
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


def stopper_as_early_stopping(config: BaselineTrainConfig) -> dict[str, int | float]:
    """The baseline's ``Stopper`` in the terms of ``keras.callbacks.EarlyStopping``.

    The ``Stopper`` (dcase_framework/keras_utils.py) decides nothing while the 0-based epoch is
    ``<= initial_delay``, and stops when ``wait >= patience`` *before* counting the current
    epoch; Keras' callback decides from ``epoch >= start_from_epoch`` on and counts first.
    Both take an improvement as ``value - min_delta > best``. So Stopper(initial_delay,
    patience) stops at the same epochs as EarlyStopping(start_from_epoch=initial_delay + 1,
    patience=patience + 1): with 100 and 10, training runs at least 113 epochs and ends 11
    epochs after the best one (tests/test_baseline.py replays the Stopper's rule).
    """
    return {"start_from_epoch": config.initial_delay + 1, "patience": config.patience + 1, "min_delta": config.min_delta}


def train_baseline(
    model: keras.Model,
    train: list[tuple[np.ndarray, np.ndarray]],
    validation: list[tuple[np.ndarray, np.ndarray]],
    context: int,
    config: BaselineTrainConfig,
    out_dir: str | Path,
    *,
    verbose: int | None = None,
    resume_key: str = "",
) -> keras.callbacks.History:
    """Fit the baseline on normalised frames ``[(frames [T, M], labels [T]), ...]``.

    Early stopping is the baseline's ``Stopper`` on the validation frame accuracy
    (:func:`stopper_as_early_stopping`); ``model`` ends with the last epoch's weights, as the
    baseline's, or with ``config.restore_best`` the best epoch's. Writes ``train_log.csv``,
    ``backup/`` and (``restore_best``) ``best.weights.h5`` into ``out_dir`` through
    :class:`rsed.training.resume.ResumableTraining`, as the CRNN's training does: an interrupted
    run resumes after its last finished epoch with its early-stopping counters, if ``config``,
    ``context`` and ``resume_key`` (the caller's identity of the data) are unchanged.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    batches = FrameBatches(train, context, config.batch_size, shuffle=True, seed=config.seed)
    val_batches = FrameBatches(validation, context, 4096, shuffle=False)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate, epsilon=config.adam_epsilon),
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryAccuracy(name="binary_accuracy")],
    )
    callbacks = [
        ResumableTraining(
            out_dir,
            key=config_hash([dataclasses.asdict(config), context, resume_key]),
            monitor="val_binary_accuracy",
            mode="max",
            restore_best=config.restore_best,
            **stopper_as_early_stopping(config),
        ),
        _EpochTracker(batches),  # after ResumableTraining, which sets the epoch a resumed run starts at
    ]
    if verbose is None:
        verbose = 1 if sys.stderr.isatty() else 2
    history = model.fit(
        batches,
        epochs=config.max_epochs,
        validation_data=val_batches,
        shuffle=False,  # FrameBatches shuffles frames by (seed, epoch); Keras' shuffle of the batch order draws from the global RNG, which a resumed run cannot repeat
        callbacks=callbacks,
        verbose=verbose,
    )
    return history  # ResumableTraining has left the last (or the best) epoch's weights in ``model``


__all__ = ["FrameBatches", "stopper_as_early_stopping", "train_baseline"]
