"""Model builders: plain functions returning an uncompiled ``keras.Model``.

Input of the CRNN and CNN: ``(batch, tau, frames_per_step, n_mels, 1)``, a window of tau
steps, each step a chunk of log-mel frames. Output: ``(batch, tau, 1)``, one event
probability per step.
"""

from __future__ import annotations

import keras
from keras import layers

from ..config import FeatureConfig
from .layers import FusedBatchNormalization, ReverseTime, StepDistributed


def _td(layer, name):
    return StepDistributed(layer, name=name)


def _conv_embedding(x, *, conv_filters, conv_kernel, spectral_filters, spectral_kernel, freq_pool, dropout):
    """Paper section 2.2 / Figure 2, applied to every step independently.

    (b, tau, F, M, 1) -> Conv2D over time x frequency -> BN -> ReLU -> freq-only pool
    -> Conv along frequency -> BN -> ReLU -> freq-only pool -> (b, tau, F * M' * filters)
    """
    x = _td(layers.Conv2D(conv_filters, conv_kernel, padding="same", use_bias=False), "conv1")(x)  # (b, tau, F, M, c1)
    x = _td(FusedBatchNormalization(), "conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = _td(layers.MaxPooling2D(pool_size=(1, freq_pool[0])), "conv1_pool")(x)  # (b, tau, F, M/p1, c1): time kept
    x = layers.Dropout(dropout, name="conv1_dropout")(x)
    x = _td(layers.Conv2D(spectral_filters, (1, spectral_kernel), padding="same", use_bias=False), "conv2")(x)  # along frequency only
    x = _td(FusedBatchNormalization(), "conv2_bn")(x)
    x = layers.Activation("relu", name="conv2_relu")(x)
    x = _td(layers.MaxPooling2D(pool_size=(1, freq_pool[1])), "conv2_pool")(x)  # (b, tau, F, M/(p1 p2), c2)
    x = layers.Dropout(dropout, name="conv2_dropout")(x)
    return _td(layers.Flatten(), "embedding")(x)  # (b, tau, F * M/(p1 p2) * c2)


def _dense_head(x, *, dense_units, dropout):
    """Paper section 2.4: per-step Dense -> BN -> ReLU, then one sigmoid unit per step."""
    x = _td(layers.Dense(dense_units, use_bias=False), "fc")(x)  # (b, tau, dense_units)
    x = _td(layers.BatchNormalization(), "fc_bn")(x)
    x = layers.Activation("relu", name="fc_relu")(x)
    x = layers.Dropout(dropout, name="fc_dropout")(x)
    return _td(layers.Dense(1, activation="sigmoid"), "output")(x)  # (b, tau, 1)


def build_crnn(
    *,
    timesteps: int,
    frames_per_step: int = FeatureConfig.frames_per_step,
    n_mels: int = FeatureConfig.n_mels,
    conv_filters: int = 32,
    conv_kernel: tuple[int, int] = (3, 3),
    spectral_filters: int = 64,
    spectral_kernel: int = 3,
    freq_pool: tuple[int, int] = (4, 4),
    rnn_units: int = 128,
    dense_units: int = 128,
    dropout: float = 0.3,
    name: str = "crnn",
) -> keras.Model:
    """The paper's CRNN (sections 2.2-2.4): TimeDistributed convolutions, two backward LSTMs, dense head.

    Both LSTM layers run backwards in time and each output step is aligned with its own
    input step: output at step s depends on input steps >= s only.
    """
    inputs = keras.Input(shape=(timesteps, frames_per_step, n_mels, 1), name="logmel_steps")
    x = _conv_embedding(
        inputs,
        conv_filters=conv_filters,
        conv_kernel=tuple(conv_kernel),
        spectral_filters=spectral_filters,
        spectral_kernel=spectral_kernel,
        freq_pool=tuple(freq_pool),
        dropout=dropout,
    )
    for i in (1, 2):
        x = layers.LSTM(rnn_units, return_sequences=True, go_backwards=True, activation="tanh", name=f"lstm{i}_backward")(x)
        x = ReverseTime(name=f"lstm{i}_realign")(x)  # (b, tau, rnn_units), step s <- inputs s..tau-1
        x = layers.Dropout(dropout, name=f"lstm{i}_dropout")(x)
    outputs = _dense_head(x, dense_units=dense_units, dropout=dropout)
    return keras.Model(inputs, outputs, name=name)


def build_cnn(
    *,
    timesteps: int,
    frames_per_step: int = FeatureConfig.frames_per_step,
    n_mels: int = FeatureConfig.n_mels,
    conv_filters: int = 32,
    conv_kernel: tuple[int, int] = (3, 3),
    spectral_filters: int = 64,
    spectral_kernel: int = 3,
    freq_pool: tuple[int, int] = (4, 4),
    dense_units: int = 128,
    dropout: float = 0.3,
    name: str = "cnn",
) -> keras.Model:
    """The paper's "CNN" row: the CRNN without its recurrent layers (same hyperparameters)."""
    inputs = keras.Input(shape=(timesteps, frames_per_step, n_mels, 1), name="logmel_steps")
    x = _conv_embedding(
        inputs,
        conv_filters=conv_filters,
        conv_kernel=tuple(conv_kernel),
        spectral_filters=spectral_filters,
        spectral_kernel=spectral_kernel,
        freq_pool=tuple(freq_pool),
        dropout=dropout,
    )
    outputs = _dense_head(x, dense_units=dense_units, dropout=dropout)
    return keras.Model(inputs, outputs, name=name)


def build_fnn(
    *,
    input_dim: int = 200,
    hidden_units: tuple[int, ...] = (50, 50),
    dropout: float = 0.2,
    name: str = "fnn",
) -> keras.Model:
    """The DCASE 2017 challenge baseline MLP (the paper's "FNN" row, NOTES section 5).

    ``(batch, input_dim)`` stacked log-mel frames (40 bands x 5 frames) -> Dense(50, ReLU)
    -> Dropout 0.2 -> Dense(50, ReLU) -> Dropout 0.2 -> Dense(1, sigmoid) ``(batch, 1)``: the
    event probability of the centre frame. Weights start uniform in [-0.05, 0.05] (the
    baseline's Keras ``'uniform'`` initialiser).
    """
    inputs = keras.Input(shape=(input_dim,), name="stacked_logmel")
    x = inputs
    for i, units in enumerate(hidden_units, start=1):
        init = keras.initializers.RandomUniform(-0.05, 0.05)
        x = layers.Dense(units, activation="relu", kernel_initializer=init, name=f"hidden{i}")(x)  # (b, units)
        x = layers.Dropout(dropout, name=f"hidden{i}_dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", kernel_initializer=keras.initializers.RandomUniform(-0.05, 0.05), name="output")(x)  # (b, 1)
    return keras.Model(inputs, outputs, name=name)


def describe(model: keras.Model) -> dict[str, int]:
    """Layer counts of a built model (Table 3's N_c and N_r) and its parameter count.

    Wrapped layers (StepDistributed) count as the layer they wrap; the output layer counts
    as a dense layer.
    """
    counts = {"n_conv": 0, "n_recurrent": 0, "n_dense": 0}
    for layer in model.layers:
        inner = getattr(layer, "layer", layer) if isinstance(layer, layers.TimeDistributed) else layer
        if isinstance(inner, (layers.Conv1D, layers.Conv2D)):
            counts["n_conv"] += 1
        elif isinstance(inner, layers.RNN):
            counts["n_recurrent"] += 1
        elif isinstance(inner, layers.Dense):
            counts["n_dense"] += 1
    counts["params"] = int(model.count_params())
    return counts
