"""The training recipe beyond the paper (issue 17): mixing on the fly, augmentation, source-disjoint validation.

Unit checks of each piece, then one tiny row that uses all of them end to end: its detectors
train on clips mixed from the recordings that are not held out, validate (early stopping, the
look-back and t1) on mixtures of the held-out ones, and live apart from the paper's.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import yaml

from rsed.config import AugmentConfig, FeatureConfig, MiniDataConfig, MixtureConfig, ModelConfig, PostprocessConfig, TrainConfig, ValidationConfig
from rsed.data.holdout import HELDOUT, heldout_paths, heldout_root, split_sources
from rsed.data.layout import MixtureEvent, read_event_list, read_source_split
from rsed.data.mini import generate_mini
from rsed.data.mixing import synthesize
from rsed.evaluation.lookback import best_thresholds
from rsed.run.pipeline import run
from rsed.run.rows import Experiment
from rsed.training.augment import SpecAugment, augment_event, spec_augment
from rsed.training.onthefly import ClipRecipe, MixingSampler, SourcePool, render_clip

CLASSES = ["gunshot"]
FEATURES = FeatureConfig()
SR = FEATURES.sample_rate


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    generate_mini(root, MiniDataConfig(events_per_class_per_split=4, bgs_per_scene_per_split=1, background_seconds=10.0, classes=tuple(CLASSES)), progress=False)
    for subset, split, n, seed in (("train", "devtrain", 6, 4242), ("devtrain", "devtrain", 4, 42), ("devtest", "devtest", 4, 42)):
        synthesize(root, subset, split, MixtureConfig(seed=seed, mixtures_per_class=n, length_seconds=10.0), classes=CLASSES, progress=False)
    return root


@pytest.fixture(scope="module")
def pool(data_root):
    return SourcePool(read_source_split(data_root, "devtrain"), "gunshot", SR)


def test_clips_are_deterministic_and_follow_the_recipe(pool):
    recipe = ClipRecipe(seconds=4.0, presence=1.0, ebr_range=(0.0, 0.0), augment=False)
    a, onset, offset = render_clip(pool, recipe, np.random.default_rng(3))
    b, *_ = render_clip(pool, recipe, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.size == 4 * SR
    assert 0.0 <= onset < offset <= 4.0
    empty = render_clip(pool, dataclasses.replace(recipe, presence=0.0), np.random.default_rng(3))
    assert empty[1] is None and empty[2] is None


def test_augmented_event_keeps_its_length_and_changes(pool):
    event = np.asarray(pool.event(0), dtype=np.float64)
    changed = [augment_event(event, SR, np.random.default_rng(s)) for s in range(4)]
    assert all(c.size == event.size for c in changed)
    assert any(not np.allclose(c, event, atol=1e-3) for c in changed)


def test_mixing_sampler_batches_are_reproducible_and_new_each_epoch(pool):
    mean, std = np.zeros(FEATURES.n_mels, np.float32), np.full(FEATURES.n_mels, 20.0, np.float32)
    kwargs = dict(clips_per_epoch=4, recipe=ClipRecipe(seconds=3.0, presence=0.5, augment=True), positive_fraction=0.5, seed=7, natural_rate=0.02)
    one, two = (MixingSampler(pool, 3, FEATURES, mean, std, **kwargs) for _ in range(2))
    try:
        x, y = one.batch(8, 0, 0)
        assert x.shape == (8, 3, FEATURES.frames_per_step, FEATURES.n_mels, 1) and y.shape == (8, 3, 1)
        np.testing.assert_array_equal(x, two.batch(8, 0, 0)[0])
        assert not np.array_equal(x, one.batch(8, 1, 0)[0])  # epoch 1 trains on other clips
        assert one.index.natural_rate == 0.02 and 0.0 < one.index.sampled_rate(8) < 1.0
    finally:
        one.close()
        two.close()


def test_spec_augment_masks_stripes_and_keeps_the_shape():
    x = np.ones((4, 3, 4, 128, 1), np.float32)
    out = spec_augment(x.copy(), np.random.default_rng(0), SpecAugment(time_masks=1, time_width=4, freq_masks=2, freq_width=12, max_shift=0))
    assert out.shape == x.shape
    frames = out.reshape(4, 12, 128)
    assert (frames == 0).any()
    assert ((frames == 0).all(axis=1).sum(axis=1) <= 24).all()  # at most two masks of 12 bands over every frame


def test_held_out_recordings_are_disjoint_and_fixed(data_root):
    split = read_source_split(data_root, "devtrain")
    config = ValidationConfig(source_disjoint=True, holdout_fraction=0.25)
    train, held = split_sources(split, config)
    again = split_sources(split, config)[1]
    assert held == again
    for c in split.classes:
        assert len(held.events[c]) == 1 and len(train.events[c]) == len(split.events[c]) - 1
        assert {e.path for e in held.events[c]}.isdisjoint({e.path for e in train.events[c]})
    assert {b.path for b in held.backgrounds}.isdisjoint({b.path for b in train.backgrounds})


def test_heldout_root_mixes_only_held_out_recordings(data_root, tmp_path):
    config = ValidationConfig(source_disjoint=True, mixtures_per_class=6)
    folder, train, held = heldout_root(data_root, tmp_path, "devtrain", config)
    assert heldout_root(data_root, tmp_path, "devtrain", config)[0] == folder  # made once, reused
    paths = heldout_paths(held)
    recipes = yaml.safe_load(next((folder / "data" / "mixture_data" / HELDOUT).rglob("mixture_recipes_*_gunshot.yaml")).read_text())
    assert len(recipes) == 6
    for r in recipes:
        assert r["bg_path"] in paths and (not r["event_present"] or r["event_path"] in paths)
    assert len(read_event_list(next((folder / "data" / "mixture_data" / HELDOUT).rglob("event_list_*_gunshot.csv")))) == 6


def test_thresholds_are_chosen_with_the_look_back():
    step = 0.1
    probs = {f"c{i}.wav": np.full(50, 0.05) for i in range(4)}
    for i in (0, 1):  # two event clips whose detector is timid: peaks of 0.6 at the event
        probs[f"c{i}.wav"][20:25] = 0.6
    reference = [MixtureEvent("c0.wav", 2.0, 2.5, "gunshot"), MixtureEvent("c1.wav", 2.0, 2.5, "gunshot"), MixtureEvent("c2.wav"), MixtureEvent("c3.wav")]
    base = PostprocessConfig(presence_threshold=0.8, onset_threshold=0.5)
    chosen = best_thresholds(probs, reference, "gunshot", base, step, (0.5, 1.0), (0.5, 0.8))
    assert chosen.presence_threshold == 0.5 and chosen.onset_threshold == 0.5  # 0.8 would miss both events


def test_weighted_loss_weights_event_steps():
    import keras

    from rsed.training.fit import WeightedBinaryCrossentropy

    y_true = np.array([[[1.0], [0.0]]], np.float32)
    y_pred = np.array([[[0.7], [0.2]]], np.float32)
    plain = float(keras.losses.BinaryCrossentropy()(y_true, y_pred))
    assert float(WeightedBinaryCrossentropy(1.0)(y_true, y_pred)) == pytest.approx(plain, rel=1e-4)
    weighted = float(WeightedBinaryCrossentropy(3.0)(y_true, y_pred))
    assert weighted == pytest.approx((3 * -np.log(0.7) - np.log(0.8)) / 2, rel=1e-4)
    assert WeightedBinaryCrossentropy.from_config(WeightedBinaryCrossentropy(3.0).get_config()).pos_weight == 3.0


def test_a_row_beyond_the_paper_end_to_end(data_root, tmp_path):
    tiny = ModelConfig(conv_filters=4, spectral_filters=4, rnn_units=8, dense_units=8)
    training = TrainConfig(min_epochs=1, max_epochs=2, patience=1, steps_per_epoch=3, batch_size=16, schedule="short")
    experiment = Experiment(
        row="crnn_plus",
        name="CRNN+",
        timesteps=(("gunshot", (3,)),),
        model=tiny,
        training=training,
        augment=AugmentConfig(mix_on_the_fly=True, clips_per_epoch=3, clip_seconds=4.0, chain=True, spec=True),
        validation=ValidationConfig(source_disjoint=True, mixtures_per_class=4),
        threshold_grid=(0.3, 0.5),
        recipe="plus",
    )
    result = run(data_root, tmp_path, experiment, workers=1)
    assert set(result.scores) == {HELDOUT, "devtest"}  # validation scored beside the test subset
    folder = tmp_path / "models" / "plus" / "gunshot_crnn_t3"
    assert (folder / "detector.json").is_file() and not (tmp_path / "models" / "gunshot_crnn_t3").exists()
    record = json.loads((tmp_path / "results" / "rows" / "crnn_plus.json").read_text())
    post = record["per_class"]["gunshot"]["postprocess"]
    assert post["chosen_on"] == HELDOUT and post["presence_threshold"] in (0.3, 0.5)
    assert (tmp_path / "estimates" / "devtest" / "gunshot_crnn_plus_t3.csv").is_file()
    # the detector carries its recipe and the settings the row chose (t1 too), for rsed detect
    from rsed.models.detector import load_spec

    spec = load_spec(folder)
    decision = spec.decision("t3")
    assert spec.recipe == "plus" and decision.rows == ("crnn_plus",) and decision.chosen_on == HELDOUT
    assert decision.postprocess.presence_threshold == post["presence_threshold"] and decision.postprocess.lookback_seconds == post["lookback_seconds"]
    key = (folder / "run_key.txt").read_text()
    run(data_root, tmp_path, experiment, workers=1)  # a rerun reuses the detector
    assert (folder / "run_key.txt").read_text() == key
    paper = dataclasses.replace(experiment, row="crnn", augment=AugmentConfig(), validation=ValidationConfig(), threshold_grid=(), recipe="")
    run(data_root, tmp_path, paper, workers=1)  # the paper's row beside it: its own folder, the paper's validation
    assert (tmp_path / "models" / "gunshot_crnn_t3" / "detector.json").is_file()
    assert (folder / "run_key.txt").read_text() == key
    from rsed.inference.detect import plan_detectors

    assert plan_detectors(tmp_path / "models")["gunshot"].folders == (folder,)  # the recommended recipe by default
    paper_ensemble = plan_detectors(tmp_path / "models", recipe="paper")["gunshot"]
    assert paper_ensemble.folders == (tmp_path / "models" / "gunshot_crnn_t3",) and paper_ensemble.settings == "recorded"


def test_whole_clip_augmentation_band_limits_or_codes():
    from scipy import signal

    from rsed.training.augment import augment_mixture

    y = np.random.default_rng(0).standard_normal(SR) * 0.1
    outs = [augment_mixture(y, SR, np.random.default_rng(s)) for s in range(12)]
    assert all(o.size == y.size for o in outs)

    def high(x):
        f, p = signal.welch(x, SR, nperseg=2048)
        return p[f > 12000].sum()

    # Every copy lost the band above 11 kHz (a 8, 16 or 22.05 kHz recording) or went through MP3.
    assert sum(high(o) < 1e-3 * high(y) for o in outs) >= 6
    assert all(high(o) < 0.9 * high(y) for o in outs)
