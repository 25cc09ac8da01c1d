"""The three builders' structures (CRNN, CNN, FNN) and, above all, the direction of the CRNN's backward LSTMs."""

import numpy as np
import pytest

from rsed.models import build_cnn, build_crnn, build_fnn, describe

SMALL = dict(frames_per_step=4, n_mels=16, conv_filters=4, spectral_filters=4, rnn_units=8, dense_units=8)


def test_crnn_shapes_and_layers():
    model = build_crnn(timesteps=5, **SMALL)
    assert model.input_shape == (None, 5, 4, 16, 1)
    assert model.output_shape == (None, 5, 1)
    names = [layer.name for layer in model.layers]
    assert names.count("lstm1_backward") == 1 and names.count("lstm2_backward") == 1
    lstms = [layer for layer in model.layers if layer.name.endswith("_backward")]
    assert all(layer.go_backwards and layer.return_sequences and layer.units == 8 for layer in lstms)
    dropouts = [layer.rate for layer in model.layers if layer.__class__.__name__ == "Dropout"]
    assert dropouts and all(rate == pytest.approx(0.3) for rate in dropouts)


def test_paper_sized_crnn_parameter_count():
    # Recorded in docs/interpretation.md: 4 frames x 128 mels per step, 32 then 64 filters.
    model = build_crnn(timesteps=5)
    assert model.count_params() == 1270049


@pytest.mark.parametrize("step", [0, 3, 6])
def test_backward_lstms_see_only_current_and_later_steps(step):
    """Perturbing input step s changes outputs at steps <= s and never at steps > s."""
    import keras

    keras.utils.set_random_seed(step)  # fixed weights: an unseeded draw could saturate an output
    tau = 7
    model = build_crnn(timesteps=tau, **SMALL)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, tau, 4, 16, 1)).astype(np.float32)
    base = model.predict_on_batch(x)[..., 0]
    x2 = x.copy()
    x2[:, step] += 3.0 * rng.standard_normal(x2[:, step].shape).astype(np.float32)
    changed = np.abs(model.predict_on_batch(x2)[..., 0] - base)
    assert np.all(changed[:, step + 1 :] == 0.0), "a later output step depends on an earlier input step"
    assert np.all(changed[:, : step + 1] > 0.0), "an output step at or before the perturbation did not change"


def test_cnn_has_no_recurrence_and_is_stepwise():
    model = build_cnn(timesteps=4, **{k: v for k, v in SMALL.items() if k != "rnn_units"})
    assert not any("lstm" in layer.name for layer in model.layers)
    x = np.random.default_rng(1).standard_normal((1, 4, 4, 16, 1)).astype(np.float32)
    base = model.predict_on_batch(x)[..., 0]
    x[:, 2] += 1.0
    changed = np.abs(model.predict_on_batch(x)[..., 0] - base)
    assert np.all(changed[:, [0, 1, 3]] == 0.0) and changed[0, 2] > 0


def test_paper_sized_cnn_is_the_crnn_without_recurrence():
    # Recorded in docs/models.md: the CRNN's convolutions and dense head, no LSTM.
    cnn, crnn = build_cnn(timesteps=5), build_crnn(timesteps=5)
    assert cnn.input_shape == crnn.input_shape == (None, 5, 4, 128, 1)
    assert cnn.output_shape == (None, 5, 1)
    assert describe(cnn) == {"n_conv": 2, "n_recurrent": 0, "n_dense": 2, "params": 269601}
    assert describe(crnn) == {"n_conv": 2, "n_recurrent": 2, "n_dense": 2, "params": 1270049}
    shared = {layer.name: layer.count_params() for layer in cnn.layers}
    for layer in crnn.layers:  # every CNN layer has its CRNN twin with the same weights' shapes
        if layer.name in shared and not layer.name.startswith("fc"):
            assert layer.count_params() == shared[layer.name], layer.name


def test_fnn_is_the_challenge_baseline_mlp():
    model = build_fnn()
    assert model.input_shape == (None, 200) and model.output_shape == (None, 1)
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert [(d.units, d.activation.__name__) for d in dense] == [(50, "relu"), (50, "relu"), (1, "sigmoid")]
    assert [layer.rate for layer in model.layers if layer.__class__.__name__ == "Dropout"] == pytest.approx([0.2, 0.2])
    assert describe(model) == {"n_conv": 0, "n_recurrent": 0, "n_dense": 3, "params": 200 * 50 + 50 + 50 * 50 + 50 + 50 + 1}
    weights = dense[0].get_weights()[0]
    assert np.abs(weights).max() <= 0.05 and weights.std() > 0.01  # uniform in [-0.05, 0.05], not zeros
    x = np.random.default_rng(2).standard_normal((3, 200)).astype(np.float32)
    p = model.predict_on_batch(x)
    assert p.shape == (3, 1) and np.all((p > 0) & (p < 1))


@pytest.mark.parametrize("shape", [(40, 8, 16, 5), (40, 5)])
def test_fused_batch_normalization_matches_keras(shape, tmp_path):
    """Training outputs, gradients and moving statistics equal Keras' BatchNormalization (4-D: fused kernel; 2-D: Keras' own path)."""
    import keras
    import tensorflow as tf

    from rsed.models.layers import FusedBatchNormalization

    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, shape).astype("float32"))
    plain, fused = keras.layers.BatchNormalization(), FusedBatchNormalization()
    gamma = np.random.default_rng(1).normal(1.0, 0.2, shape[-1]).astype("float32")
    for layer in (plain, fused):
        layer.build(shape)
        layer.gamma.assign(gamma)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        outs = [layer(x, training=True) for layer in (plain, fused)]
        losses = [tf.reduce_sum(y**3) for y in outs]
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-5)
    for a, b in zip(tape.gradient(losses[0], [x, plain.gamma, plain.beta]), tape.gradient(losses[1], [x, fused.gamma, fused.beta]), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(fused.moving_mean, plain.moving_mean, atol=1e-6)
    np.testing.assert_allclose(fused.moving_variance, plain.moving_variance, rtol=1e-6)
    assert not np.allclose(plain.moving_variance, 1.0)  # the statistics did move
    np.testing.assert_allclose(fused(x, training=False), plain(x, training=False), atol=1e-5)


def test_crnn_with_fused_normalisation_saves_and_loads(tmp_path):
    import keras

    from rsed.models.layers import FusedBatchNormalization

    model = build_crnn(timesteps=2, conv_filters=4, spectral_filters=4, rnn_units=4, dense_units=4)
    assert sum(isinstance(getattr(layer, "layer", None), FusedBatchNormalization) for layer in model.layers) == 2
    x = np.random.default_rng(0).standard_normal((3, 2, 4, 128, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_model_saved_when_the_layers_lived_in_rsed_layers_still_loads(tmp_path):
    """``model.keras`` files written before the layers moved to rsed.models.layers name the module ``rsed.layers``.

    Keras finds the layers by their registered names (``rsed>ReverseTime`` ...), so such files
    load with ``safe_mode=True`` as ``rsed detect`` loads them.
    """
    import json
    import zipfile

    import keras

    model = build_crnn(timesteps=2, conv_filters=4, spectral_filters=4, rnn_units=4, dense_units=4)
    model.save(tmp_path / "new.keras")
    with zipfile.ZipFile(tmp_path / "new.keras") as new, zipfile.ZipFile(tmp_path / "old.keras", "w") as old:
        for item in new.infolist():
            data = new.read(item.filename)
            if item.filename == "config.json":
                text = data.decode("utf-8")
                assert '"module": "rsed.models.layers"' in text and '"registered_name": "rsed>ReverseTime"' in text
                data = text.replace('"module": "rsed.models.layers"', '"module": "rsed.layers"').encode("utf-8")
                json.loads(data)
            old.writestr(item, data)
    x = np.random.default_rng(0).standard_normal((3, 2, 4, 128, 1)).astype("float32")
    loaded = keras.saving.load_model(tmp_path / "old.keras", compile=False, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
