"""Training one detector: balanced window batches, Adam with Keras-2 decay, early stopping.

Writes into ``out_dir``: ``train_log.csv`` (one row per epoch), ``best.weights.h5`` (lowest
validation loss), ``backup/`` (an atomic snapshot per epoch, rsed/resume.py: a killed run resumes
after its last finished epoch and ends as an uninterrupted one would) and returns the model
holding the best weights.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import keras

from .config import ModelConfig, TrainConfig, config_hash
from .models import build_cnn, build_crnn
from .resume import ResumableTraining
from .windows import StepSequence, WindowSampler, tiled_windows

ARCHITECTURES = {"crnn": build_crnn, "cnn": build_cnn}


def build_model(architecture: str, model_config: ModelConfig, frames_per_step: int, n_mels: int, *, seed: int | None = None) -> keras.Model:
    """Build ``architecture`` ('crnn' or 'cnn') with the hyperparameters of ``model_config``.

    ``seed`` seeds Keras (``keras.utils.set_random_seed``) first: the initial weights and the
    dropout random states are drawn when the layers are built, so the same seed gives the
    same model.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose from {sorted(ARCHITECTURES)}")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    kwargs = dataclasses.asdict(model_config)
    if architecture == "cnn":
        kwargs.pop("rnn_units")
    return ARCHITECTURES[architecture](frames_per_step=frames_per_step, n_mels=n_mels, **kwargs)


def keras2_decay_schedule(learning_rate: float, decay: float) -> keras.optimizers.schedules.LearningRateSchedule:
    """Keras 2's optimizer ``decay``: lr = lr0 / (1 + decay * iterations) (NOTES section 7)."""
    return keras.optimizers.schedules.InverseTimeDecay(learning_rate, decay_steps=1, decay_rate=decay)


class _Batches(keras.utils.PyDataset):
    """``steps_per_epoch`` balanced batches per epoch, reproducible from (seed, epoch, index)."""

    def __init__(self, sampler: WindowSampler, batch_size: int, steps_per_epoch: int):
        super().__init__(workers=1, use_multiprocessing=False)
        self.sampler, self.batch_size, self.steps_per_epoch = sampler, batch_size, steps_per_epoch
        self.epoch = 0

    def __len__(self):
        return self.steps_per_epoch

    def __getitem__(self, index):
        return self.sampler.batch(self.batch_size, self.epoch, index)


class _EpochTracker(keras.callbacks.Callback):
    """Tells the batch source which epoch runs, so a resumed run draws the same batches."""

    def __init__(self, batches: _Batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.epoch = epoch


def train_detector(
    model: keras.Model,
    train: list[StepSequence],
    validation: list[StepSequence],
    config: TrainConfig,
    out_dir: str | Path,
    *,
    verbose: int | None = None,
    resume_key: str = "",
) -> keras.callbacks.History:
    """Fit ``model`` (built for windows of ``tau`` steps) and leave it holding its best weights.

    Early stopping watches the validation loss on fixed non-overlapping windows of the
    validation clips; it may only stop after ``config.min_epochs`` epochs. A snapshot in
    ``out_dir/backup`` of the same ``config``, ``resume_key`` (the caller's identity of the
    data) and architecture is resumed; a finished one is only loaded.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tau = int(model.input_shape[1])
    keras.utils.set_random_seed(config.seed)
    sampler = WindowSampler(train, tau, positive_fraction=config.positive_fraction, seed=config.seed)
    batches = _Batches(sampler, config.batch_size, config.steps_per_epoch)
    x_val, y_val = tiled_windows(validation, tau)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=keras2_decay_schedule(config.learning_rate, config.decay)),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc")],
    )
    best = out_dir / "best.weights.h5"
    callbacks = [
        _EpochTracker(batches),
        # Replaces BackupAndRestore, ModelCheckpoint, EarlyStopping and CSVLogger (see rsed/resume.py).
        ResumableTraining(
            out_dir,
            key=config_hash([dataclasses.asdict(config), resume_key]),
            monitor="val_loss",
            patience=config.patience,
            start_from_epoch=config.min_epochs,
        ),
    ]
    if verbose is None:
        verbose = 1 if sys.stderr.isatty() else 2
    history = model.fit(
        batches,
        epochs=config.max_epochs,
        validation_data=(x_val, y_val),
        validation_batch_size=256,
        shuffle=False,  # the batches are random already; Keras' shuffle draws from the global RNG, which a resumed run cannot repeat
        callbacks=callbacks,
        verbose=verbose,
    )
    if best.exists():
        model.load_weights(str(best))
    return history

