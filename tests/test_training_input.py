"""Training input: windows streamed from the HDF5 cache equal the in-memory ones; training from disk, resume, curves.

Small synthetic caches (16 mel bands, a few hundred frames per clip) and a tiny CRNN keep it fast.
"""

import dataclasses
import math

import keras
import numpy as np
import pytest

from rsed.cli import build_parser, experiments_from_args
from rsed.config import FeatureConfig, ModelConfig, TrainConfig
from rsed.errors import CacheError
from rsed.features import compute_stats, read_cache, to_steps
from rsed.features.synthetic_cache import write_synthetic_cache
from rsed.features.windows import WindowSampler, tiled_windows
from rsed.models.losses import corrected_crossentropy
from rsed.run.members import _sequences
from rsed.training.distribute import STRATEGIES, check_strategy, make_strategy, precision_policy, training_replica
from rsed.training.fit import CORRECTED_LOSS, build_model, sampling_logit_shift, shift_output_logit, train_detector, window_dataset
from rsed.training.plots import plot_training_curves, read_train_log
from rsed.training.streaming import CachedSteps, CacheWindowSampler

#: Fixed geometry (not the defaults) so the clip lengths below mean the same steps whatever the default hop.
FEATURES = FeatureConfig(n_mels=16, hop_length=512, frames_per_step=8)
FPS = FEATURES.frames_per_step
TINY_MODEL = ModelConfig(timesteps=4, conv_filters=2, spectral_filters=2, rnn_units=4, dense_units=4)
#: Frames per clip: ordinary clips, one of 3 steps (shorter than tau 4) and one with a trailing partial step.
LENGTHS = [400, 250, 3 * FPS, 317, 180, 96, 333]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    path = write_synthetic_cache(tmp_path_factory.mktemp("cache") / "train.h5", LENGTHS, FEATURES, seed=7, event_fraction=0.6)
    mean, std = compute_stats([path])
    return path, mean, std


def _samplers(cache, tau, seed=3, positive_fraction=0.3):
    path, mean, std = cache
    memory = WindowSampler(_sequences(path, mean, std, FPS), tau, positive_fraction=positive_fraction, seed=seed)
    stream = CacheWindowSampler(CachedSteps(path, mean, std, FPS), tau, positive_fraction=positive_fraction, seed=seed)
    return memory, stream


@pytest.mark.parametrize("tau", [1, 4, 9])
def test_streamed_batches_equal_in_memory_batches(cache, tau):
    memory, stream = _samplers(cache, tau)
    with stream:
        assert stream.n_windows == memory.n_windows
        assert stream.window_shape == memory.window_shape == (tau, FPS, 16)
        for epoch, index in [(0, 0), (0, 1), (3, 7), (120, 199)]:
            xm, ym = memory.batch(32, epoch, index)
            xs, ys = stream.batch(32, epoch, index)
            assert xs.shape == (32, tau, FPS, 16, 1) and ys.shape == (32, tau, 1)
            assert xs.dtype == ys.dtype == np.float32
            np.testing.assert_array_equal(xs, xm)
            np.testing.assert_array_equal(ys, ym)
        assert not np.array_equal(stream.batch(32, 0, 0)[0], stream.batch(32, 0, 1)[0])
        assert not np.array_equal(stream.batch(32, 0, 0)[0], stream.batch(32, 1, 0)[0])


def test_another_seed_draws_other_windows(cache):
    path, mean, std = cache
    with CacheWindowSampler(CachedSteps(path, mean, std, FPS), 4, seed=1) as a, CacheWindowSampler(CachedSteps(path, mean, std, FPS), 4, seed=2) as b:
        assert not np.array_equal(a.batch(16, 0, 0)[0], b.batch(16, 0, 0)[0])
        np.testing.assert_array_equal(a.batch(16, 5, 2)[0], a.batch(16, 5, 2)[0])


def test_streamed_windows_are_normalised_frames_of_one_clip(cache):
    """Each window is (raw frames - mean) / std of consecutive steps inside a single clip."""
    path, mean, std = cache
    tau = 4
    clips = read_cache(path)
    with CacheWindowSampler(CachedSteps(path, mean, std, FPS), tau, positive_fraction=0.5, seed=11) as stream:
        for index in range(25):
            picked, starts = stream.index.picks(16, 0, index)
            x, y = stream.batch(16, 0, index)
            for k, (clip, start) in enumerate(zip(picked, starts, strict=True)):
                n_steps = len(clips[clip].labels) // FPS
                assert 0 <= start and start + tau <= n_steps, "a window crosses the end of its clip"
                raw = clips[clip].logmel[start * FPS : (start + tau) * FPS]
                expected = ((raw - mean) / std).reshape(tau, FPS, 16)
                np.testing.assert_allclose(x[k, ..., 0], expected, rtol=0, atol=1e-6)
                _, labels = to_steps(clips[clip].logmel, clips[clip].labels, FPS)
                np.testing.assert_array_equal(y[k, :, 0], labels[start : start + tau])
            # positive_fraction 0.5: the first half of every batch holds event steps.
            assert np.all(y[:8].max(axis=(1, 2)) == 1)
        used = set(np.concatenate([stream.index.picks(16, 0, i)[0] for i in range(200)]).tolist())
    assert 2 not in used, "the clip shorter than tau was drawn"
    assert used == {0, 1, 3, 4, 5, 6}
    # Normalised with the training statistics: about zero mean and unit variance over many windows.
    with CacheWindowSampler(CachedSteps(path, mean, std, FPS), 1, positive_fraction=0.0) as uniform:
        xs = np.concatenate([uniform.batch(256, 0, i)[0] for i in range(4)])
    assert abs(float(xs.mean())) < 0.1 and abs(float(xs.std()) - 1.0) < 0.1


def test_statistics_must_match_the_bands(cache):
    path, mean, std = cache
    with pytest.raises(CacheError, match="mel bands"):
        CacheWindowSampler(CachedSteps(path, mean[:8], std[:8], FPS), 4)
    assert len(CachedSteps(path, mean, std, FPS)) == len(LENGTHS)


class _RecordingSampler:
    """A stand-in sampler that encodes (epoch, index) in its batch, to follow the stream."""

    window_shape = (2, 1, 1)

    def batch(self, batch_size, epoch, index):
        x = np.full((batch_size, 2, 1, 1, 1), 1000 * epoch + index, np.float32)
        return x, np.zeros((batch_size, 2, 1), np.float32)


def test_window_dataset_runs_epoch_after_epoch_from_the_first_epoch():
    dataset = window_dataset(_RecordingSampler(), 3, 4, lambda: 5)
    got = [int(x[0, 0, 0, 0, 0]) for x, _ in dataset.take(9).as_numpy_iterator()]
    assert got == [5000, 5001, 5002, 5003, 6000, 6001, 6002, 6003, 7000]


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_training_from_the_cache_resumes_with_the_batches_of_its_epoch(cache, tmp_path, monkeypatch):
    path, mean, std = cache
    source = CachedSteps(path, mean, std, FPS)
    validation = _sequences(path, mean, std, FPS)[:2]
    config = TrainConfig(min_epochs=1, max_epochs=3, patience=5, steps_per_epoch=3, batch_size=8, positive_fraction=0.5, seed=5)
    drawn = []
    original = CacheWindowSampler.batch

    def recording_batch(self, batch_size, epoch, index):
        drawn.append((epoch, index))
        return original(self, batch_size, epoch, index)

    monkeypatch.setattr(CacheWindowSampler, "batch", recording_batch)
    model = build_model("crnn", TINY_MODEL, FPS, 16)
    initial = [w.copy() for w in model.get_weights()]
    with pytest.raises(KeyboardInterrupt):
        train_detector(model, source, validation, config, tmp_path, verbose=0, callbacks=[_Interrupt()])
    assert {e for e, _ in drawn} >= {0} and (0, 2) in drawn
    assert (tmp_path / "backup").is_dir()

    drawn.clear()
    model = build_model("crnn", TINY_MODEL, FPS, 16)
    history = train_detector(model, source, validation, config, tmp_path, verbose=0)
    # Resumed at epoch 1: the stream starts at (1, 0) and never draws epoch 0 again.
    assert min(drawn) == (1, 0) and {(1, i) for i in range(3)} | {(2, i) for i in range(3)} <= set(drawn)
    assert len(history.history["loss"]) == 2 and all(math.isfinite(v) for v in history.history["loss"])
    log = read_train_log(tmp_path / "train_log.csv")
    assert log["epoch"] == [0.0, 1.0, 2.0]
    assert any(not np.array_equal(a, b) for a, b in zip(initial, model.get_weights(), strict=True))
    assert (tmp_path / "best.weights.h5").is_file()
    assert (tmp_path / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tensorboard = tmp_path / "tensorboard"
    try:
        import tensorboard as _  # noqa: F401
    except ImportError:
        assert not tensorboard.exists()
    else:
        assert list(tensorboard.rglob("events.out.tfevents.*"))


@pytest.mark.parametrize("tau", [1, 4])
def test_event_step_rates_of_the_data_and_of_the_batches(cache, tau):
    path, mean, std = cache
    memory = WindowSampler(_sequences(path, mean, std, FPS), tau, positive_fraction=0.5, seed=2)
    index, labels = memory.index, [s.labels for s in memory.sequences]
    # natural: the share of event steps over every window (hop one step) of the usable clips
    windows = [labels[c][w : w + tau] for c in index.clips for w in range(len(labels[c]) - tau + 1)]
    assert index.natural_rate == pytest.approx(np.mean([w.mean() for w in windows]), rel=1e-9)
    # sampled: what the batches hold on average
    drawn = [labels[c][w : w + tau].mean() for i in range(400) for c, w in zip(*index.picks(32, 0, i), strict=True)]
    assert index.sampled_rate(32) == pytest.approx(np.mean(drawn), abs=0.01)
    assert index.sampled_rate(32) > 2 * index.natural_rate
    plain = WindowSampler(memory.sequences, tau, positive_fraction=0.0).index
    assert plain.sampled_rate(32) == pytest.approx(plain.natural_rate)
    assert sampling_logit_shift(plain.natural_rate, plain.sampled_rate(32)) == pytest.approx(0.0, abs=1e-12)


def test_prior_correction_shifts_the_output_logit(tmp_path):
    """sigmoid(logit(p) + shift) on every output; the shift is the log-odds of natural over sampled rates."""
    assert sampling_logit_shift(0.02, 0.25) == pytest.approx(math.log(0.02 / 0.98) - math.log(0.25 / 0.75))
    assert sampling_logit_shift(0.0, 0.3) == 0.0  # no event step: nothing to correct
    model = build_model("crnn", TINY_MODEL, FPS, 16, seed=3)
    x = np.random.default_rng(0).normal(size=(3, TINY_MODEL.timesteps, FPS, 16, 1)).astype(np.float32)
    before = model.predict(x, verbose=0).astype(np.float64)
    shift_output_logit(model, -2.5)
    after = model.predict(x, verbose=0).astype(np.float64)

    def logit(p):
        return np.log(p / (1 - p))

    np.testing.assert_allclose(logit(after), logit(before) - 2.5, atol=1e-4)
    with pytest.raises(ValueError, match="not a sigmoid unit"):
        shift_output_logit(keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="output")]), 1.0)


def test_trained_detector_carries_the_prior_correction(cache, tmp_path):
    path, mean, std = cache
    sequences = _sequences(path, mean, std, FPS)
    config = TrainConfig(min_epochs=1, max_epochs=1, steps_per_epoch=2, batch_size=8, positive_fraction=0.5, seed=5)
    shifts = {}
    for correct in (True, False):
        model = build_model("crnn", TINY_MODEL, FPS, 16, seed=1)
        history = train_detector(model, sequences, sequences[:2], dataclasses.replace(config, prior_correction=correct), tmp_path / str(correct), verbose=0)
        shifts[correct] = (history.logit_shift, model.get_layer("output").layer.bias.numpy().copy())
    index = WindowSampler(sequences, TINY_MODEL.timesteps, positive_fraction=0.5).index
    expected = sampling_logit_shift(index.natural_rate, index.sampled_rate(8))
    assert expected < -1.0 and shifts[True][0] == pytest.approx(expected) and shifts[False][0] == 0.0
    # same seed, same batches: the corrected bias is the uncorrected one plus the shift
    np.testing.assert_allclose(shifts[True][1], shifts[False][1] + expected, atol=1e-5)


def test_corrected_crossentropy_is_the_loss_of_the_shifted_probabilities():
    rng = np.random.default_rng(4)
    p = rng.uniform(0.01, 0.99, size=(5, 7, 1)).astype(np.float32)
    y = (rng.random((5, 7, 1)) < 0.3).astype(np.float32)
    q = 1.0 / (1.0 + np.exp(-(np.log(p / (1 - p)) - 2.0)))  # sigmoid(logit(p) - 2)
    expected = -(y * np.log(q) + (1 - y) * np.log(1 - q)).mean(axis=-1)
    got = keras.ops.convert_to_numpy(corrected_crossentropy(-2.0)(y, p))
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    plain = keras.ops.convert_to_numpy(corrected_crossentropy(0.0)(y, p))
    np.testing.assert_allclose(plain, keras.ops.convert_to_numpy(keras.losses.binary_crossentropy(y, p)), rtol=1e-4)


def test_prior_corrected_training_keeps_the_epoch_with_the_lowest_corrected_validation_loss(cache, tmp_path):
    """The kept detector is the shifted one, so the epoch is chosen by the shifted outputs' validation loss."""
    path, mean, std = cache
    sequences = _sequences(path, mean, std, FPS)
    config = TrainConfig(min_epochs=4, max_epochs=4, steps_per_epoch=2, batch_size=8, positive_fraction=0.5, seed=5)
    model = build_model("crnn", TINY_MODEL, FPS, 16, seed=1)
    history = train_detector(model, sequences, sequences[:3], config, tmp_path / "run", verbose=0)
    corrected = read_train_log(tmp_path / "run" / "train_log.csv")[f"val_{CORRECTED_LOSS}"]
    assert len(corrected) == 4 and all(np.isfinite(corrected))
    best = int(np.argmin(corrected))
    # best.weights.h5 holds that epoch: re-scoring it (unshifted) reproduces its logged corrected loss
    check = build_model("crnn", TINY_MODEL, FPS, 16, seed=1)
    check.load_weights(str(tmp_path / "run" / "best.weights.h5"))
    x_val, y_val = tiled_windows(sequences[:3], TINY_MODEL.timesteps)
    loss = float(np.mean(keras.ops.convert_to_numpy(corrected_crossentropy(history.logit_shift)(y_val, check.predict(x_val, verbose=0)))))
    assert loss == pytest.approx(corrected[best], rel=1e-3)


def test_training_curves_keep_the_last_row_of_a_repeated_epoch(tmp_path):
    log = tmp_path / "train_log.csv"
    log.write_text("epoch,auc,loss,val_auc,val_loss\n0,0.6,0.7,0.55,0.69\n1,0.7,0.6,0.6,0.65\n1,0.71,0.59,0.61,0.64\n2,0.8,0.5,0.62,0.66\n")
    columns = read_train_log(log)
    assert columns["epoch"] == [0.0, 1.0, 2.0] and columns["val_loss"] == [0.69, 0.64, 0.66]
    out = plot_training_curves(log, tmp_path / "curves.png", title="gunshot")
    assert out.stat().st_size > 1000


def test_mixed_precision_replica_computes_in_float16_with_a_float32_output():
    model = build_model("crnn", TINY_MODEL, FPS, 16)
    replica = training_replica(model, make_strategy("default"), "mixed_float16")
    assert keras.config.dtype_policy().name == "float32", "the global policy leaked"
    assert model.get_layer("conv1").layer.compute_dtype == "float32"
    assert replica.get_layer("conv1").layer.compute_dtype == "float16"
    assert replica.get_layer("lstm1_backward").compute_dtype == "float16"
    assert replica.get_layer("output").compute_dtype == "float32"
    assert replica.outputs[0].dtype == "float32"
    x = np.random.default_rng(0).standard_normal((2, 4, FPS, 16, 1)).astype(np.float32)
    y = replica.predict_on_batch(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, model.predict_on_batch(x), atol=5e-3)
    for a, b in zip(model.get_weights(), replica.get_weights(), strict=True):
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b)


def test_mixed_precision_is_ignored_without_a_gpu(caplog):
    assert precision_policy(False) is None
    assert precision_policy(True, gpu=True) == "mixed_float16"
    with caplog.at_level("WARNING", logger="rsed.training.distribute"):
        assert precision_policy(True, gpu=False) is None
    assert "needs a GPU" in caplog.text


def test_strategy_names_and_cli_flags():
    with pytest.raises(ValueError, match="multiworker"):
        check_strategy("parameter_server")
    args = build_parser().parse_args(["reproduce", "--out", "run", "--schedule", "short", "--strategy", "mirrored", "--mixed-precision"])
    (experiment,) = experiments_from_args(args)
    training = experiment.training
    assert training.strategy == "mirrored" and training.mixed_precision and training.schedule == "short"
    assert build_parser().parse_args(["reproduce", "--out", "run", "--deterministic"]).deterministic
    assert not build_parser().parse_args(["reproduce", "--out", "run"]).deterministic
    plain = experiments_from_args(build_parser().parse_args(["reproduce", "--out", "run"]))[0].training
    assert plain.strategy == "default" and not plain.mixed_precision
    for name in STRATEGIES:
        assert experiments_from_args(build_parser().parse_args(["reproduce", "--out", "run", "--strategy", name, "--rows", "all"]))[-1].training.strategy == name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reproduce", "--out", "run", "--strategy", "parameter_server"])


def test_importing_rsed_chooses_the_bfc_allocator_unless_the_environment_says_otherwise():
    """TensorFlow reads TF_CPU_ALLOCATOR_USE_BFC once, at its first allocation: rsed sets a default on import."""
    import os
    import subprocess
    import sys

    code = "import os, rsed; print(os.environ.get('TF_CPU_ALLOCATOR_USE_BFC'))"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip() == "true"
    env["TF_CPU_ALLOCATOR_USE_BFC"] = "false"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip() == "false"


def test_an_epoch_is_one_pass_over_the_training_windows_unless_counted(cache, tmp_path):
    """steps_per_epoch None: windows / batch size, rounded up; natural sampling needs no prior correction."""
    assert TrainConfig().steps_per_epoch is None and TrainConfig(batch_size=64).batches_per_epoch(1000) == 16
    assert TrainConfig(steps_per_epoch=40).batches_per_epoch(10**6) == 40
    with pytest.raises(ValueError, match="positive_fraction"):
        TrainConfig(positive_fraction=1.5)
    path, mean, std = cache
    sequences = _sequences(path, mean, std, FPS)
    config = TrainConfig(min_epochs=1, max_epochs=1, batch_size=64, positive_fraction=0.0, seed=5)
    model = build_model("crnn", TINY_MODEL, FPS, 16, seed=1)
    history = train_detector(model, sequences, sequences[:2], config, tmp_path / "run", verbose=0)
    n_windows = WindowSampler(sequences, TINY_MODEL.timesteps).n_windows
    assert history.steps_per_epoch == math.ceil(n_windows / 64) > 1
    assert history.logit_shift == 0.0  # nothing oversampled: the correction is no shift
