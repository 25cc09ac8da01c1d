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


@keras.saving.register_keras_serializable(package="rsed")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras' ``BatchNormalization`` whose training pass on 4-D channels-last input uses TensorFlow's fused kernel.

    Keras 3 computes the batch moments and the normalisation as separate ops; on the CPU that
    made the batch normalisation of the first convolution (batch x tau x 8 x 128 x 32 values)
    a quarter of a CRNN training step. The fused kernel does it in one pass (benchmarks/
    bench_batchnorm.py measures a whole step). Same variables, same moving-average
    update with the biased batch variance, and Keras' own code for inference and any other input
    (a mask, other ranks, renorm, synchronized statistics).
    """

    def _fusable(self, inputs, training, mask) -> bool:
        return (
            bool(training)
            and self.trainable
            and mask is None
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and self.center
            and self.scale
            and not self.renorm
            and not self.synchronized
            and keras.backend.backend() == "tensorflow"
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = keras.ops.cast(inputs, "float32")
        gamma, beta = keras.ops.cast(self.gamma, "float32"), keras.ops.cast(self.beta, "float32")
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=self.epsilon, is_training=True)
        # The kernel returns the unbiased (Bessel-corrected) variance; Keras averages the biased one.
        n = keras.ops.cast(keras.ops.size(x) // keras.ops.shape(x)[-1], "float32")
        variance = variance * (n - 1.0) / keras.ops.maximum(n, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + keras.ops.cast(mean, self.moving_mean.dtype) * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + keras.ops.cast(variance, self.moving_variance.dtype) * (1.0 - self.momentum))
        return keras.ops.cast(outputs, self.compute_dtype)
