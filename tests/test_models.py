"""The CRNN's structure and, above all, the direction of its two backward LSTM layers."""

import numpy as np
import pytest

from rsed.models import build_cnn, build_crnn

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
    # Recorded in docs/interpretation.md: 8 frames x 128 mels per step, 32 then 64 filters.
    model = build_crnn(timesteps=5)
    assert model.count_params() == 2318625


@pytest.mark.parametrize("step", [0, 3, 6])
def test_backward_lstms_see_only_current_and_later_steps(step):
    """Perturbing input step s changes outputs at steps <= s and never at steps > s."""
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
