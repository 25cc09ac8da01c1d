"""Training one detector: balanced window batches through tf.data, Adam with Keras-2 decay, early stopping.

Writes into ``out_dir``: ``train_log.csv`` (one row per epoch), ``best.weights.h5`` (lowest
validation loss), ``backup/`` (an atomic snapshot per epoch, rsed/training/resume.py: a killed run resumes
after its last finished epoch and ends as an uninterrupted one would), ``tensorboard/``
(TensorBoard logs) and ``training_curves.png``, and leaves the model holding the best weights. A run
(rsed/run/folder.py) removes ``backup/`` and ``best.weights.h5`` once the detector is saved.
The training windows come from memory or straight from the HDF5 feature cache (docs/training.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import math
import sys
from pathlib import Path
from typing import Callable, Sequence

import keras

from ..config import ModelConfig, TrainConfig, config_hash
from ..errors import RsedError
from ..features.windows import StepSequence, WindowSampler, tiled_windows
from ..models.builders import build_cnn, build_crnn
from ..models.losses import CORRECTED_LOSS, CorrectedCrossentropy, WeightedBinaryCrossentropy
from .augment import SpecAugment, SpecAugmented
from .distribute import check_strategy, make_strategy, precision_policy, prepare_multiworker_fit, training_replica
from .onthefly import OnTheFly
from .plots import plot_training_curves
from .resume import ResumableTraining
from .streaming import CachedSteps, CacheWindowSampler

log = logging.getLogger(__name__)

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


class _FirstEpoch(keras.callbacks.Callback):
    """Records the epoch a fit starts at (later than 0 when ResumableTraining resumed the run).

    Keras calls ``on_epoch_begin`` of the first epoch before it starts iterating the data, so
    :func:`window_dataset` reads the right epoch when its stream starts.
    """

    def __init__(self):
        super().__init__()
        self.epoch, self._started = 0, False

    def on_train_begin(self, logs=None):
        self._started = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self._started:
            self.epoch, self._started = epoch, True


def _tensorboard(log_dir: Path) -> list[keras.callbacks.Callback]:
    """Keras' TensorBoard callback (epoch scalars: loss, AUC, learning rate), if TensorBoard is installed."""
    if importlib.util.find_spec("tensorboard") is None:
        log.warning("TensorBoard is not installed (pip install tensorboard): no TensorBoard logs in %s", log_dir)
        return []
    return [keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False, profile_batch=0)]


def make_sampler(train, tau: int, config: TrainConfig, spec: SpecAugment | None = None):
    """The batch source for ``train``: clips in memory (a list of :class:`StepSequence`), a
    feature cache streamed from disk (:class:`rsed.training.streaming.CachedSteps`), or anything
    with a ``make_sampler(tau, config)`` method (clips mixed on the fly,
    :class:`rsed.training.onthefly.OnTheFly`). ``spec`` masks the windows of every batch."""
    if hasattr(train, "make_sampler"):
        sampler = train.make_sampler(tau, config)
    elif isinstance(train, CachedSteps):
        sampler = CacheWindowSampler(train, tau, positive_fraction=config.positive_fraction, seed=config.seed)
    else:
        sampler = WindowSampler(list(train), tau, positive_fraction=config.positive_fraction, seed=config.seed)
    return sampler if spec is None else SpecAugmented(sampler, spec, config.seed)


def window_dataset(sampler, batch_size: int, steps_per_epoch: int, first_epoch: Callable[[], int] = lambda: 0):
    """An endless ``tf.data.Dataset`` of the sampler's batches, epoch after epoch, prefetched.

    Element ``k`` is ``sampler.batch(batch_size, e, i)`` with ``e = first_epoch() + k //
    steps_per_epoch`` and ``i = k % steps_per_epoch``; ``first_epoch`` is called when an
    iterator starts. Keras keeps one iterator across epochs when ``steps_per_epoch`` is given,
    so epoch ``e`` trains on exactly the batches ``(e, 0 ... steps_per_epoch - 1)``, also after
    a resume, however far the prefetching runs ahead. Batches are loaded in TensorFlow's
    threads (in order), overlapping the training steps.
    """
    import tensorflow as tf

    def indices():
        epoch = int(first_epoch())
        while True:
            for index in range(steps_per_epoch):
                yield epoch, index
            epoch += 1

    def load(epoch, index):
        return sampler.batch(batch_size, int(epoch), int(index))

    x_shape = (batch_size, *sampler.window_shape, 1)
    y_shape = (batch_size, sampler.window_shape[0], 1)

    def load_tensors(epoch, index):
        x, y = tf.numpy_function(load, [epoch, index], [tf.float32, tf.float32], name="window_batch")
        return tf.ensure_shape(x, x_shape), tf.ensure_shape(y, y_shape)

    spec = (tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.int64))
    dataset = tf.data.Dataset.from_generator(indices, output_signature=spec)
    dataset = dataset.map(load_tensors, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    # Every worker of a multi-worker run computes the same stream and keeps its share of each batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def compile_detector(model: keras.Model, config: TrainConfig, logit_shift: float = 0.0) -> None:
    """Compile for training: Adam with Keras-2 decay, binary cross-entropy per step, ROC AUC and,
    with a non-zero ``logit_shift``, the prior-corrected loss (:data:`CORRECTED_LOSS`).

    Every loss and metric is a built-in or a registered class (rsed/models/losses.py), so a
    saved model loads with ``keras.saving.load_model`` and its default ``compile=True``."""
    metrics = [keras.metrics.AUC(name="auc")]
    if logit_shift:
        metrics.append(CorrectedCrossentropy(logit_shift, name=CORRECTED_LOSS))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=keras2_decay_schedule(config.learning_rate, config.decay)),
        loss="binary_crossentropy" if config.pos_weight == 1.0 else WeightedBinaryCrossentropy(config.pos_weight),
        metrics=metrics,
    )


def train_detector(
    model: keras.Model,
    train: list[StepSequence] | CachedSteps | OnTheFly,
    validation: list[StepSequence],
    config: TrainConfig,
    out_dir: str | Path,
    *,
    verbose: int | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    resume_key: str = "",
    spec: SpecAugment | None = None,
) -> keras.callbacks.History:
    """Fit ``model`` (built for windows of ``tau`` steps) and leave it holding its best weights.

    ``train`` is either clips in memory or a feature cache read from disk batch by batch
    (:class:`rsed.training.streaming.CachedSteps`), both giving the same batches, or clips mixed
    anew for every epoch (:class:`rsed.training.onthefly.OnTheFly`); ``spec`` masks every training
    batch (:func:`rsed.training.augment.spec_augment`). Early stopping and the
    best checkpoint watch the validation loss on fixed non-overlapping windows of the validation
    clips (under prior correction, the loss of the corrected outputs, :data:`CORRECTED_LOSS`);
    stopping may only come after ``config.min_epochs`` epochs. ``config.strategy`` and
    ``config.mixed_precision`` train a copy of ``model`` on several devices or in float16
    (rsed/training/distribute.py); ``model`` itself stays a float32 single-device model. Extra
    ``callbacks`` run after the built-in ones. Also writes ``tensorboard/`` logs and
    ``training_curves.png``. With ``config.prior_correction`` the returned model's output is
    corrected for the oversampled event windows (:func:`sampling_logit_shift`); the History's
    ``logit_shift`` says by how much (0.0 without), its ``steps_per_epoch`` how many batches an
    epoch had (:meth:`rsed.config.TrainConfig.batches_per_epoch`). A snapshot in ``out_dir/backup`` of the
    same ``config``, ``resume_key`` (the caller's identity of the data) and architecture is
    resumed; a finished one is only loaded.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tau = int(model.input_shape[1])
    keras.utils.set_random_seed(config.seed)
    check_strategy(config.strategy)
    strategy = make_strategy(config.strategy)
    policy = precision_policy(config.mixed_precision)
    distributed = config.strategy != "default" or policy is not None
    train_model = training_replica(model, strategy, policy) if distributed else model
    x_val, y_val = tiled_windows(validation, tau)
    sampler = make_sampler(train, tau, config, spec)
    try:
        logit_shift = 0.0
        if config.prior_correction:
            logit_shift = sampling_logit_shift(sampler.index.natural_rate, sampler.index.sampled_rate(config.batch_size))
        with strategy.scope() if distributed else contextlib.nullcontext():
            compile_detector(train_model, config, logit_shift)
        if config.strategy == "multiworker":
            prepare_multiworker_fit(train_model, strategy, (x_val[:1], y_val[:1]))
        best = out_dir / "best.weights.h5"
        first_epoch = _FirstEpoch()
        all_callbacks = [
            # Replaces BackupAndRestore, ModelCheckpoint, EarlyStopping and CSVLogger (see rsed/training/resume.py).
            ResumableTraining(
                out_dir,
                key=config_hash([dataclasses.asdict(config), resume_key]),
                # Select the epoch whose *corrected* outputs fit the validation data best (the model kept).
                monitor=f"val_{CORRECTED_LOSS}" if logit_shift else "val_loss",
                patience=config.patience,
                start_from_epoch=config.min_epochs,
            ),
            first_epoch,  # after ResumableTraining, which sets the epoch a resumed run starts at
            *_tensorboard(out_dir / "tensorboard"),
            *callbacks,
        ]
        if verbose is None:
            verbose = 1 if sys.stderr.isatty() else 2
        steps = config.batches_per_epoch(sampler.index.n_windows)
        history = train_model.fit(
            window_dataset(sampler, config.batch_size, steps, lambda: first_epoch.epoch),
            steps_per_epoch=steps,
            epochs=config.max_epochs,
            validation_data=(x_val, y_val),
            validation_batch_size=256,
            shuffle=False,  # the sampler draws the windows at random already; Keras' shuffle draws from the global RNG, which a resumed run cannot repeat
            callbacks=all_callbacks,
            verbose=verbose,
        )
    finally:
        sampler.close()
    if best.exists():
        train_model.load_weights(str(best))
    if train_model is not model:
        model.set_weights(train_model.get_weights())
    history.logit_shift = logit_shift
    history.steps_per_epoch = steps
    if logit_shift:
        shift_output_logit(model, logit_shift)
    plot_training_curves(out_dir / "train_log.csv", out_dir / "training_curves.png", title=f"{out_dir.name} ({config.schedule} schedule)")
    return history


def make_deterministic() -> None:
    """TensorFlow's deterministic ops on one CPU thread: the same seed then gives the same weights, run after run.

    ``enable_op_determinism`` alone left multi-threaded CPU kernels summing in an order that
    depends on thread timing (docs/robustness.md); one intra-op and one inter-op thread remove
    that, at the cost of speed. Call before TensorFlow runs anything.
    """
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError as exc:
        raise RsedError(None, f"determinism must be set before TensorFlow starts ({exc})") from None


def sampling_logit_shift(natural_rate: float, sampled_rate: float) -> float:
    """Log-odds to add to the output so that probabilities refer to the data, not to the batches.

    Training batches oversample windows with event steps (``positive_fraction``), which raises
    every posterior by the odds ratio of the sampled to the natural event-step rate (prior
    shift; Saerens et al. 2002). Adding ``logit(natural) - logit(sampled)`` to the output logit
    undoes it, so the paper's thresholds apply to probabilities of the natural class balance.
    """
    if not (0.0 < natural_rate < 1.0 and 0.0 < sampled_rate < 1.0):
        return 0.0  # no event step at all, or nothing else: nothing to correct

    def logit(p: float) -> float:
        return math.log(p / (1.0 - p))

    return logit(natural_rate) - logit(sampled_rate)


def shift_output_logit(model: keras.Model, shift: float) -> None:
    """Add ``shift`` to the bias of ``model``'s sigmoid output unit (layer ``output``): p -> sigmoid(logit(p) + shift)."""
    layer = model.get_layer("output")
    dense = getattr(layer, "layer", layer)  # the Dense inside a time-distributed wrapper
    if getattr(dense, "bias", None) is None or dense.get_config().get("activation") != "sigmoid":
        raise ValueError(f"the output layer of {model.name} is not a sigmoid unit with a bias")
    dense.bias.assign(dense.bias + keras.ops.cast(shift, dense.bias.dtype))
