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
