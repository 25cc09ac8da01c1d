"""Model builders: plain functions returning an uncompiled ``keras.Model``.

Input of the CRNN and CNN: ``(batch, tau, frames_per_step, n_mels, 1)``, a window of tau
steps, each step a chunk of log-mel frames. Output: ``(batch, tau, 1)``, one event
probability per step.
"""

from __future__ import annotations

import keras
from keras import layers

from .layers import ReverseTime, StepDistributed


def _td(layer, name):
    return StepDistributed(layer, name=name)


def _conv_embedding(x, *, conv_filters, conv_kernel, spectral_filters, spectral_kernel, freq_pool, dropout):
    """Paper section 2.2 / Figure 2, applied to every step independently.

    (b, tau, F, M, 1) -> Conv2D over time x frequency -> BN -> ReLU -> freq-only pool
    -> Conv along frequency -> BN -> ReLU -> freq-only pool -> (b, tau, F * M' * filters)
    """
    x = _td(layers.Conv2D(conv_filters, conv_kernel, padding="same", use_bias=False), "conv1")(x)  # (b, tau, F, M, c1)
    x = _td(layers.BatchNormalization(), "conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = _td(layers.MaxPooling2D(pool_size=(1, freq_pool[0])), "conv1_pool")(x)  # (b, tau, F, M/p1, c1): time kept
    x = layers.Dropout(dropout, name="conv1_dropout")(x)
    x = _td(layers.Conv2D(spectral_filters, (1, spectral_kernel), padding="same", use_bias=False), "conv2")(x)  # along frequency only
    x = _td(layers.BatchNormalization(), "conv2_bn")(x)
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
    frames_per_step: int = 8,
    n_mels: int = 128,
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
    frames_per_step: int = 8,
    n_mels: int = 128,
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
