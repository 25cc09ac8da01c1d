"""Custom Keras layers, registered so saved models load with ``safe_mode=True`` (no Lambda)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="rsed")
class ReverseTime(keras.layers.Layer):
    """Reverse a sequence along its time axis (axis 1): ``(batch, time, ...) -> same shape``.

    Keras 3 ``LSTM(go_backwards=True, return_sequences=True)`` returns its outputs in
    reversed time order; this layer puts them back so output step ``s`` belongs to input
    step ``s`` (NOTES section 7).
    """

    def call(self, inputs):
        return keras.ops.flip(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="rsed")
class StepDistributed(keras.layers.TimeDistributed):
    """``TimeDistributed`` that folds the step axis into the batch: one call of the inner layer.

    Same mathematics as Keras' ``TimeDistributed`` (the wrapped layer sees every step
    independently; batch normalisation pools its statistics over batch and steps), but Keras 3
    loops over the steps in Python, which made training 2.5x slower on the CPU.
    ``(batch, steps, *inner) -> (batch, steps, *inner_out)``; the step axis must be static.
    """

    def call(self, inputs, training=None, mask=None):
        steps = inputs.shape[1]
        if steps is None or mask is not None:
            return super().call(inputs, training=training, mask=mask)
        folded = keras.ops.reshape(inputs, (-1, *inputs.shape[2:]))  # (batch * steps, *inner)
        outputs = self.layer(folded, training=training)
        return keras.ops.reshape(outputs, (-1, steps, *outputs.shape[1:]))
