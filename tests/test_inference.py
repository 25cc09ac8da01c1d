"""The fast sliding ensemble (rsed.inference.fast) against the direct computation it replaces.

Models get random weights spread wide enough that their outputs vary over (0, 1): an
untrained Keras model predicts about 0.5 everywhere, which would hide a wrong recurrence.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rsed.config import FeatureConfig, ModelConfig, TrainConfig
from rsed.inference.fast import SlidingEnsemble, sliding_ensemble
from rsed.inference.postprocessing import ensemble_average
from rsed.inference.sliding import clip_probabilities, predict_steps
from rsed.models import build_cnn, build_crnn
from rsed.models.detector import DetectorSpec, load_detector, save_detector
from rsed.models.layers import StepDistributed

TOLERANCE = 1e-5
F, M = 4, 16
TINY = dict(frames_per_step=F, n_mels=M, conv_filters=4, spectral_filters=4, dense_units=8)


def _spread_weights(model: keras.Model, seed: int) -> keras.Model:
    """Random weights with outputs far from constant.

    N(0, 1.5 / sqrt(fan_in)) kernels and varied batch-normalisation statistics, then the
    output unit rescaled so that its logits over random windows have mean 0 and std 2.
    """
    rng = np.random.default_rng(seed)
    values = []
    for weight in model.weights:
        shape, path = tuple(weight.shape), weight.path
        if path.endswith("moving_variance"):
            values.append(rng.uniform(0.5, 2.0, shape))
        elif path.endswith("gamma"):
            values.append(rng.uniform(0.5, 1.5, shape))
        elif path.endswith(("moving_mean", "beta", "bias")):
            values.append(rng.normal(0.0, 0.3, shape))
        else:
            fan_in = int(np.prod(shape[:-1])) or 1
            values.append(rng.normal(0.0, 1.5 / np.sqrt(fan_in), shape))
    model.set_weights([v.astype(np.float32) for v in values])
    last = model.layers[-1]
    features = keras.Model(model.input, last.input).predict_on_batch(rng.standard_normal((8, *model.input_shape[1:])).astype(np.float32))
    kernel, _ = last.get_weights()
    logits = features.reshape(-1, features.shape[-1]) @ kernel
    scale = 2.0 / max(float(logits.std()), 1e-6)
    last.set_weights([kernel * scale, np.full((1,), -float(logits.mean()) * scale, np.float32)])
    return model


def _steps(n: int, seed: int = 0, f: int = F, m: int = M) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, f, m)).astype(np.float32)


def _assert_same(model: keras.Model, steps: np.ndarray) -> np.ndarray:
    direct = predict_steps(model, steps, fast=False)
    fast = predict_steps(model, steps, fast=True)
    assert fast.shape == direct.shape == (steps.shape[0],)
    assert np.abs(fast - direct).max() <= TOLERANCE
    return direct


@pytest.fixture(scope="module")
def crnn_by_tau():
    return {tau: _spread_weights(build_crnn(timesteps=tau, rnn_units=8, **TINY), seed=tau) for tau in (1, 3, 6)}


@pytest.mark.parametrize("tau, n_steps", [(1, 1), (1, 9), (3, 2), (3, 3), (3, 23), (6, 1), (6, 23)])
def test_crnn_fast_equals_direct(crnn_by_tau, tau, n_steps):
    """Longer and shorter than tau (padded by repeating the last step), and exactly tau."""
    model = crnn_by_tau[tau]
    assert sliding_ensemble(model) is not None
    direct = _assert_same(model, _steps(n_steps, seed=10 * tau + n_steps))
    if n_steps >= 9:
        assert direct.std() > 0.05, "outputs nearly constant: the comparison would prove little"


def test_crnn_fast_path_really_differs_per_window(crnn_by_tau):
    """The recurrences restart in every window: one recurrence over the whole clip would differ."""
    model = crnn_by_tau[6]
    steps = _steps(23, seed=3)
    # chunks of 5 steps and 5 windows give the same numbers
    assert np.abs(predict_steps(model, steps, batch_size=5) - predict_steps(model, steps, fast=False)).max() <= TOLERANCE
    ensemble = SlidingEnsemble(model)
    windows = ensemble.window_probabilities(steps)
    assert windows.shape == (23 - 6 + 1, 6)
    # step 10 is predicted by windows 5..10 at positions 5..0, with different futures each time
    assert np.ptp([windows[w, 10 - w] for w in range(5, 11)]) > 1e-3
    # and each window equals the model on that window
    direct = model.predict_on_batch(steps[7:13][None, ..., None])[0, :, 0]
    assert np.abs(windows[7] - direct).max() <= TOLERANCE


@pytest.mark.parametrize("tau", [1, 4])
@pytest.mark.parametrize("n_steps", [2, 17])
def test_cnn_fast_equals_direct(tau, n_steps):
    model = _spread_weights(build_cnn(timesteps=tau, **TINY), seed=5)
    assert not SlidingEnsemble(model).recurrences
    _assert_same(model, _steps(n_steps, seed=n_steps))


def test_paper_sized_crnn_fast_equals_direct():
    model = _spread_weights(build_crnn(timesteps=3), seed=1)  # 4 frames x 128 mels, 32/64 filters, 128 units
    direct = _assert_same(model, _steps(12, f=4, m=128))
    assert direct.std() > 0.01


def test_forward_lstm_without_reversal_is_supported():
    """An LSTM that runs forwards (no go_backwards, no ReverseTime) is split correctly too."""
    inputs = keras.Input(shape=(5, F, M, 1))
    x = StepDistributed(keras.layers.Flatten())(inputs)
    x = keras.layers.LSTM(6, return_sequences=True)(x)
    outputs = StepDistributed(keras.layers.Dense(1, activation="sigmoid"))(x)
    model = _spread_weights(keras.Model(inputs, outputs), seed=2)
    assert not SlidingEnsemble(model).recurrences[0].go_backwards
    _assert_same(model, _steps(14, seed=4))


def test_unsupported_model_falls_back_to_direct():
    inputs = keras.Input(shape=(4, F, M, 1))
    x = StepDistributed(keras.layers.Flatten())(inputs)
    x = keras.layers.GRU(5, return_sequences=True)(x)
    outputs = StepDistributed(keras.layers.Dense(1, activation="sigmoid"))(x)
    model = _spread_weights(keras.Model(inputs, outputs), seed=3)
    assert sliding_ensemble(model) is None
    steps = _steps(9, seed=5)
    np.testing.assert_array_equal(predict_steps(model, steps), predict_steps(model, steps, fast=False))


def test_clip_probabilities_of_two_saved_detectors(tmp_path):
    """An ensemble of two detectors written to and read from detector folders, as `rsed detect` does."""
    features = FeatureConfig(frames_per_step=F, n_mels=M)
    rng = np.random.default_rng(7)
    detectors = []
    for i, (arch, tau) in enumerate([("crnn", 3), ("cnn", 5)]):
        build = build_crnn if arch == "crnn" else build_cnn
        kwargs = dict(TINY, rnn_units=8) if arch == "crnn" else TINY
        model = _spread_weights(build(timesteps=tau, **kwargs), seed=20 + i)
        config = ModelConfig(timesteps=tau, conv_filters=4, spectral_filters=4, rnn_units=8, dense_units=8)
        spec = DetectorSpec("babycry", arch, config, features, TrainConfig(), tuple(rng.normal(0, 1, M)), tuple(rng.uniform(0.5, 2, M)))
        detectors.append(load_detector(save_detector(tmp_path / f"det{i}", model, spec)))
    assert all(sliding_ensemble(model) is not None for model, _ in detectors)
    logmel = rng.normal(-40, 10, (15 * F + 3, M)).astype(np.float32)  # 15 steps and a partial one
    fast = clip_probabilities(detectors, logmel)
    direct = ensemble_average(
        [predict_steps(model, (spec.normalise(logmel)[: 15 * F]).reshape(15, F, M), fast=False) for model, spec in detectors]
    )
    assert fast.shape == (15,)
    assert np.abs(fast - direct).max() <= TOLERANCE


def test_lstm_cell_kernel_matches_float64_formula():
    """The compiled LSTM step (rational tanh, sigmoid via tanh) against the textbook formula,
    also far into saturation (|preactivation| up to 40)."""
    from rsed.inference.fast import _lstm_cell

    n, units = 37, 16
    rng = np.random.default_rng(11)
    z = rng.normal(0, 10, (n, 4 * units)).astype(np.float32)
    x = rng.normal(0, 10, (n, 4 * units)).astype(np.float32)
    c = rng.normal(0, 3, (n, units)).astype(np.float32)
    h = np.empty((n, units), np.float32)
    a = z.astype(np.float64) + x
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    i, f, g, o = sigmoid(a[:, :units]), sigmoid(a[:, units : 2 * units]), np.tanh(a[:, 2 * units : 3 * units]), sigmoid(a[:, 3 * units :])  # Keras' order
    c_ref = f * c + i * g
    h_ref = o * np.tanh(c_ref)
    _lstm_cell(z.reshape(-1), x.reshape(-1), c.reshape(-1), h.reshape(-1), units)
    assert np.abs(c - c_ref).max() < 2e-6
    assert np.abs(h - h_ref).max() < 2e-6


def test_split_is_kept_per_model_and_follows_weight_changes():
    """The split is made once per live model, yet reads the current weights at every call."""
    model = _spread_weights(build_crnn(timesteps=3, rnn_units=8, **TINY), seed=8)
    assert sliding_ensemble(model) is sliding_ensemble(model)
    steps = _steps(11, seed=9)
    before = predict_steps(model, steps)
    _spread_weights(model, seed=9)  # e.g. training went on
    after = _assert_same(model, steps)
    assert np.abs(after - before).max() > 1e-3


def test_model_with_a_shared_layer_is_not_split():
    """A layer used twice breaks the single chain: direct path, same numbers."""
    inputs = keras.Input(shape=(3, F, M, 1))
    flat = StepDistributed(keras.layers.Flatten())(inputs)
    dense = StepDistributed(keras.layers.Dense(F * M, activation="tanh"))
    outputs = StepDistributed(keras.layers.Dense(1, activation="sigmoid"))(dense(dense(flat)))
    model = _spread_weights(keras.Model(inputs, outputs), seed=6)
    assert sliding_ensemble(model) is None
    steps = _steps(7, seed=6)
    np.testing.assert_array_equal(predict_steps(model, steps), predict_steps(model, steps, fast=False))
