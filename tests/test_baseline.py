"""The challenge baseline (FNN row): its features, context stacking, frame batches and median-filter decision."""

import numpy as np
import pytest

from rsed.config import BaselineFeatureConfig, BaselinePostprocessConfig
from rsed.features.baseline import baseline_logmel, event_roll_labels, stack_context
from rsed.inference.baseline import baseline_events, median_kernel
from rsed.training.baseline import FrameBatches

CFG = BaselineFeatureConfig()


def _tone(freq, seconds=1.0, amplitude=0.5, sr=44100):
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_feature_frames_bands_and_context_width():
    y = _tone(1000.0, seconds=1.0)
    mel = baseline_logmel(y, CFG)
    assert mel.shape == (1 + y.size // 882, 40) and mel.dtype == np.float32
    assert CFG.win_length == 1764 and CFG.hop_length == 882 and CFG.frame_seconds == pytest.approx(0.02)
    assert stack_context(mel, CFG.context).shape == (mel.shape[0], 200) == (mel.shape[0], CFG.input_dim)


def test_features_are_the_natural_log_of_a_magnitude_mel_spectrum():
    import librosa

    quiet, loud = _tone(1000.0, amplitude=0.1), _tone(1000.0, amplitude=0.2)
    a, b = baseline_logmel(quiet, CFG), baseline_logmel(loud, CFG)
    middle = slice(5, -5)
    band = int(np.argmax(a[middle].mean(axis=0)))
    # Magnitude (not power), natural log: doubling the amplitude adds ln 2, not ln 4 or 10 log10 4.
    assert np.median(b[middle, band] - a[middle, band]) == pytest.approx(np.log(2.0), abs=1e-3)
    centres = librosa.mel_frequencies(n_mels=40 + 2, fmin=0.0, fmax=22050.0)[1:-1]
    assert abs(centres[band] - 1000.0) < 150.0  # the loudest band is the one around the tone


def test_stack_context_is_centred_and_edge_padded():
    frames = np.arange(8, dtype=np.float32).reshape(4, 2)  # frame t = [2t, 2t + 1]
    stacked = stack_context(frames, 3)
    np.testing.assert_array_equal(stacked[0], [0, 1, 0, 1, 2, 3])  # t-1 repeats frame 0
    np.testing.assert_array_equal(stacked[2], [2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(stacked[3], [4, 5, 6, 7, 6, 7])  # t+1 repeats frame 3
    five = stack_context(frames, 5)
    np.testing.assert_array_equal(five[1], [0, 1, 0, 1, 2, 3, 4, 5, 6, 7])  # t-2 clipped to 0


def test_event_roll_labels_mark_every_frame_the_event_overlaps():
    from rsed.config import FeatureConfig
    from rsed.features import frame_labels

    labels = event_roll_labels(100, 0.05, 0.51, 0.02)
    np.testing.assert_array_equal(np.flatnonzero(labels), np.arange(2, 26))  # floor(2.5) .. ceil(25.5) - 1
    assert event_roll_labels(20, 0.1, 0.2, 0.02).nonzero()[0].tolist() == [5, 6, 7, 8, 9]  # on the grid: as the frame centres
    assert event_roll_labels(10, 0.05, 5.0, 0.02).nonzero()[0].tolist() == list(range(2, 10))  # cut to the clip
    assert not event_roll_labels(10, None, None, 0.02).any()
    # The CRNN's rule (frame centres in [onset, offset)) starts one frame later off the grid.
    centre = frame_labels(100, 0.05, 0.51, FeatureConfig(hop_length=882))
    np.testing.assert_array_equal(np.flatnonzero(centre), np.arange(3, 26))


def test_frame_batches_visit_every_frame_once_with_its_context():
    rng = np.random.default_rng(0)
    clips = [(rng.standard_normal((n, 3)).astype(np.float32), (np.arange(n) % 2).astype(np.uint8)) for n in (7, 4, 9)]
    expected = {tuple(row): int(y) for frames, labels in clips for row, y in zip(stack_context(frames, 5), labels, strict=True)}
    batches = FrameBatches(clips, 5, batch_size=6, shuffle=True, seed=3)
    assert len(batches) == 4  # 20 frames in batches of 6
    seen = []
    for i in range(len(batches)):
        x, y = batches[i]
        assert x.shape[1] == 15 and y.shape == (x.shape[0], 1)
        for row, label in zip(x, y[:, 0], strict=True):
            assert expected[tuple(row)] == label  # a frame's context never crosses into another clip
            seen.append(tuple(row))
    assert sorted(seen) == sorted(expected)
    first = batches[0][0].copy()
    batches.epoch = 1
    assert not np.array_equal(batches[0][0], first)  # a new order each epoch
    batches.epoch = 0
    np.testing.assert_array_equal(batches[0][0], first)  # and the same order for the same epoch


def test_median_filter_removes_blips_and_bridges_gaps():
    cfg = BaselinePostprocessConfig()
    assert median_kernel(cfg, 0.02) == 27
    p = np.zeros(300)
    p[50:110] = 0.9  # a 1.2 s event ...
    p[70:75] = 0.2  # ... with a 0.1 s dip, bridged by the filter
    p[200:210] = 0.95  # a 0.2 s blip (10 frames < 14), removed
    p[240:300] = 0.6  # an event running to the clip end keeps its end (13 zero pads < 14 ones)
    events = baseline_events(p, 0.02, cfg)
    assert events == [pytest.approx((1.0, 2.2)), pytest.approx((4.8, 6.0))]
    assert baseline_events(np.full(100, 0.5), 0.02, cfg) == []  # must exceed the threshold


def test_max_events_keeps_the_longest_regions_in_time_order():
    p = np.zeros(400)
    p[20:60] = 0.9  # 40 frames
    p[100:200] = 0.9  # 100 frames
    p[300:370] = 0.9  # 70 frames
    assert len(baseline_events(p, 0.02, BaselinePostprocessConfig())) == 3  # the baseline keeps all
    one = baseline_events(p, 0.02, BaselinePostprocessConfig(max_events=1))
    two = baseline_events(p, 0.02, BaselinePostprocessConfig(max_events=2))
    assert one == [pytest.approx((2.0, 4.0))]
    assert two == [pytest.approx((2.0, 4.0)), pytest.approx((6.0, 7.4))]


def test_feature_module_does_not_load_tensorflow():
    """Feature extraction runs in spawned workers: importing its module must not import TensorFlow."""
    import subprocess
    import sys

    code = "import sys, rsed.features.baseline; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def _stopper_stop_epoch(accuracies, initial_delay, patience, min_delta):
    """The challenge baseline's Stopper rule, replayed: the 0-based epoch it stops after, or None."""
    best, wait, last = -np.inf, 0, 0
    for epoch, value in enumerate(accuracies):
        if epoch > initial_delay:
            if value - min_delta > best:
                best, wait = value, 0
            elif wait >= patience:
                return epoch
            else:
                wait += epoch - last
        last = epoch
    return None


def _early_stopping_stop_epoch(accuracies, **kwargs):
    import types

    import keras

    stopper = keras.callbacks.EarlyStopping(monitor="val_binary_accuracy", mode="max", **kwargs)
    model = types.SimpleNamespace(stop_training=False)
    stopper.set_model(model)
    stopper.on_train_begin()
    for epoch, value in enumerate(accuracies):
        stopper.on_epoch_end(epoch, {"val_binary_accuracy": value})
        if model.stop_training:
            return epoch
    return None


@pytest.mark.parametrize("initial_delay,patience", [(100, 10), (2, 2), (0, 0), (3, 1)])
def test_early_stopping_stops_where_the_baselines_stopper_stops(initial_delay, patience):
    from rsed.config import BaselineTrainConfig
    from rsed.training.baseline import stopper_as_early_stopping

    config = BaselineTrainConfig(initial_delay=initial_delay, patience=patience)
    rng = np.random.default_rng(initial_delay * 10 + patience)
    n = initial_delay + 40
    runs = [
        np.full(n, 0.9),  # never improves after the first decision
        np.linspace(0.5, 0.99, n),  # always improves: never stops
        np.round(0.9 + 0.01 * np.sin(np.arange(n) / 3.0), 3),  # plateaus and ties (a tie is no improvement)
        *(np.round(np.cumsum(rng.normal(0.0, 0.01, n)) + 0.9, 2) for _ in range(20)),
    ]
    for accuracies in runs:
        expected = _stopper_stop_epoch(accuracies, initial_delay, patience, config.min_delta)
        assert _early_stopping_stop_epoch(accuracies, **stopper_as_early_stopping(config)) == expected
    assert _stopper_stop_epoch(np.full(n, 0.9), initial_delay, patience, 0.0) == initial_delay + patience + 2  # the paper schedule: at least 113 epochs
