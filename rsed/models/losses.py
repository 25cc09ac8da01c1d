"""Losses and metrics that saved models name, registered under package ``rsed`` (no closures).

:class:`CorrectedCrossentropy` (the prior-corrected validation loss) and
:class:`WeightedBinaryCrossentropy` (the weighted training loss of a recipe).

A compiled model's ``model.keras`` holds its compile configuration; Keras rebuilds every loss and
metric from it when a model is loaded with ``compile=True`` (the default of
``keras.saving.load_model``). A closure cannot be rebuilt (Keras answered "Could not locate
function 'loss'"), so each one is a registered class whose ``get_config`` holds its
parameters. ``import rsed`` registers them with Keras (see ``rsed/__init__.py``).
"""

from __future__ import annotations

import functools

import keras

#: Name of the metric that early stopping and the best checkpoint watch under prior correction.
CORRECTED_LOSS = "corrected_loss"


@keras.saving.register_keras_serializable(package="rsed")
def shifted_crossentropy(y_true, y_pred, logit_shift: float = 0.0):
    """Binary cross-entropy per sample of ``y_pred`` after adding ``logit_shift`` to its logits (mean over the last axis)."""
    ops = keras.ops
    p = ops.clip(ops.cast(y_pred, "float32"), 1e-7, 1.0 - 1e-7)
    logits = ops.log(p) - ops.log1p(-p) + logit_shift
    return ops.mean(ops.binary_crossentropy(ops.cast(y_true, "float32"), logits, from_logits=True), axis=-1)


def corrected_crossentropy(logit_shift: float):
    """``f(y_true, y_pred)``: :func:`shifted_crossentropy` with ``logit_shift`` bound."""
    return functools.partial(shifted_crossentropy, logit_shift=float(logit_shift))


@keras.saving.register_keras_serializable(package="rsed")
class CorrectedCrossentropy(keras.metrics.MeanMetricWrapper):
    """Mean binary cross-entropy of the probabilities after adding ``logit_shift`` to their logits.

    Under prior correction the detector that is kept is the shifted one, so its validation loss
    is what model selection must compare (rsed.training.fit). Its configuration is its name,
    dtype and ``logit_shift``: a saved model rebuilds it with nothing but ``import rsed``.
    """

    def __init__(self, logit_shift: float = 0.0, name: str = CORRECTED_LOSS, dtype=None):
        super().__init__(fn=shifted_crossentropy, name=name, dtype=dtype, logit_shift=float(logit_shift))
        self.logit_shift = float(logit_shift)
        self._direction = "down"

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "logit_shift": self.logit_shift}

    @classmethod
    def from_config(cls, config: dict) -> "CorrectedCrossentropy":
        return cls(**config)


@keras.saving.register_keras_serializable(package="rsed")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy per step with event steps weighted by ``pos_weight`` (natural sampling, weighted loss).

    The training loss of a recipe with ``TrainConfig.pos_weight`` other than 1 (rsed.training.fit).
    """

    def __init__(self, pos_weight: float = 1.0, name: str = "weighted_binary_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pos_weight = float(pos_weight)

    def call(self, y_true, y_pred):
        ops = keras.ops
        y_true = ops.cast(y_true, "float32")
        p = ops.clip(ops.cast(y_pred, "float32"), 1e-7, 1.0 - 1e-7)
        loss = -(self.pos_weight * y_true * ops.log(p) + (1.0 - y_true) * ops.log1p(-p))
        return ops.mean(loss, axis=-1)

    def get_config(self):
        return {**super().get_config(), "pos_weight": self.pos_weight}
