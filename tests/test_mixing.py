"""Tests of rsed.data.mixing: the DCASE 2017 Task 2 mixture recipe, run on a tiny mini dataset.

Golden properties are measured on the written 24-bit files: the realised event-to-background
ratio, the onsets of the event list against the audio, mixtures without event against the
background, determinism, resumability and clear errors on bad input.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from rsed.audio import load_audio
from rsed.config import MiniDataConfig, MixtureConfig
from rsed.data.layout import SOURCE_DIR, read_source_split
from rsed.data.mini import generate_mini
from rsed.data.mixing import (
    PEAK_LIMIT,
    fit_length,
    make_recipes,
    mix,
    mixture_param_hash,
    realised_ebr,
    synthesize,
)
from rsed.errors import AudioError, DataError

MINI = MiniDataConfig(events_per_class_per_split=3, bgs_per_scene_per_split=1, background_seconds=10.0)
MIX = MixtureConfig(mixtures_per_class=6, length_seconds=10.0)
SR = MIX.sample_rate
LSB24 = 2.0**-23


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory) -> Path:
    """A tiny mini source tree shared by the tests of this file (never modified)."""
    return generate_mini(tmp_path_factory.mktemp("mini"), MINI, progress=False)


@pytest.fixture(scope="module")
def mixed(mini_root):
    """The devtrain mixtures of the tiny tree: (root, mixture sets)."""
    return mini_root, synthesize(mini_root, "devtrain", "devtrain", MIX, progress=False, workers=2)


@pytest.fixture()
def source_copy(mini_root, tmp_path) -> Path:
    """A private copy of the tiny source tree, for tests that break it."""
    shutil.copytree(mini_root / SOURCE_DIR, tmp_path / SOURCE_DIR)
    return tmp_path


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _recipes(mset) -> dict[str, dict]:
    return {r["mixture_audio_filename"]: r for r in yaml.safe_load(mset.recipes_path.read_text())}


def _mixture_and_background(root: Path, mset, recipe: dict) -> tuple[np.ndarray, np.ndarray]:
    mixture, rate = sf.read(mset.audio_dir / recipe["mixture_audio_filename"], dtype="float64")
    assert rate == SR
    background = fit_length(load_audio(root / recipe["bg_path"], SR).astype(np.float64), mixture.size)
    return mixture, background


def _background_gain(mixture: np.ndarray, background: np.ndarray, start: int, stop: int) -> float:
    """Least-squares gain of the background in the mixture, fitted outside the event."""
    outside = np.ones(mixture.size, dtype=bool)
    outside[start:stop] = False
    return float(np.dot(mixture[outside], background[outside]) / np.dot(background[outside], background[outside]))


# ----------------------------------------------------------------------------------------------
# Recipes


@pytest.mark.parametrize(("n_mix", "prob"), [(6, 0.5), (7, 0.5), (11, 0.3), (4, 1.0), (3, 0.0)])
def test_recipes_counts_offsets_and_names(mini_root, n_mix, prob):
    split = read_source_split(mini_root, "devtrain")
    config = MixtureConfig(mixtures_per_class=n_mix, event_presence_prob=prob, length_seconds=10.0)
    for class_name in split.classes:
        recipes = make_recipes(split, class_name, config, "devtrain")
        assert len(recipes) == n_mix
        assert sum(r["event_present"] for r in recipes) == round(n_mix * prob)
        names = [r["mixture_audio_filename"] for r in recipes]
        assert len(set(names)) == n_mix
        for i, recipe in enumerate(recipes):
            assert yaml.safe_load(yaml.safe_dump(recipe)) == recipe
            assert all(isinstance(v, (str, int, float, bool)) for v in recipe.values())
            content = {k: v for k, v in recipe.items() if k != "mixture_audio_filename"}
            md5 = hashlib.md5(json.dumps(content, sort_keys=True).encode()).hexdigest()
            assert recipe["mixture_audio_filename"] == f"mixture_devtrain_{class_name}_{i:03d}_{md5}.wav"
            assert (mini_root / recipe["bg_path"]).is_file()
            if not recipe["event_present"]:
                assert "event_path" not in recipe
                continue
            assert (mini_root / recipe["event_path"]).is_file()
            assert recipe["event_class"] == class_name
            assert recipe["ebr"] in config.ebrs
            length = recipe["event_length_seconds"]
            assert length == pytest.approx(recipe["segment_end_seconds"] - recipe["segment_start_seconds"], abs=1e-9)
            assert 0.0 <= recipe["event_start_in_mixture_seconds"] <= config.length_seconds - length + 1e-9


def test_recipes_deterministic_and_seeded(mini_root):
    split = read_source_split(mini_root, "devtrain")
    first = make_recipes(split, "babycry", MIX, "devtrain")
    assert make_recipes(split, "babycry", MIX, "devtrain") == first
    other_seed = make_recipes(split, "babycry", MixtureConfig(mixtures_per_class=6, length_seconds=10.0, seed=43), "devtrain")
    assert other_seed != first


def test_recipes_use_every_source_before_repeating(mini_root):
    split = read_source_split(mini_root, "devtrain")
    recipes = make_recipes(split, "gunshot", MIX, "devtrain")
    assert len({r["bg_path"] for r in recipes}) == len(split.backgrounds) == 6
    assert len({r["event_path"] for r in recipes if r["event_present"]}) == 3


def test_event_longer_than_mixture_is_truncated(mini_root):
    split = read_source_split(mini_root, "devtrain")
    config = MixtureConfig(mixtures_per_class=4, event_presence_prob=1.0, length_seconds=0.25)
    for recipe in make_recipes(split, "babycry", config, "devtrain"):  # babycry events last 1-4 s
        assert recipe["event_truncated"] is True
        assert recipe["event_length_seconds"] == pytest.approx(0.25)
        assert recipe["event_start_in_mixture_seconds"] == 0.0
        assert recipe["segment_end_seconds"] - recipe["segment_start_seconds"] == pytest.approx(0.25)


# ----------------------------------------------------------------------------------------------
# The pure mixer


def test_mix_reaches_ebr_and_leaves_background_untouched_outside():
    rng = np.random.default_rng(0)
    background = 0.05 * rng.standard_normal(4000)
    event = np.sin(np.arange(500) * 0.3) * np.hanning(500)
    mixture, info = mix(background, event, 1200, 3.0)
    assert mixture.shape == background.shape
    assert realised_ebr(mixture, background, info["background_gain"], 1200, 500) == pytest.approx(3.0, abs=1e-9)
    outside = np.r_[0:1200, 1700:4000]
    np.testing.assert_array_equal(mixture[outside], 0.2 * background[outside])
    assert info["normalisation_gain"] == 1.0 and info["background_gain"] == 0.2
    assert info["event_total_gain"] == pytest.approx(0.2 * info["event_gain"])


def test_mix_normalises_a_clipping_peak_below_one():
    rng = np.random.default_rng(1)
    background = 0.5 * rng.standard_normal(2000)
    event = np.ones(100)
    mixture, info = mix(background, event, 0, 40.0)
    assert np.max(np.abs(mixture)) == pytest.approx(PEAK_LIMIT, abs=1e-15)
    assert np.max(np.abs(mixture)) < 1.0
    assert info["normalisation_gain"] < 1.0
    assert realised_ebr(mixture, background, info["background_gain"], 0, 100) == pytest.approx(40.0, abs=1e-9)


def test_mix_without_event_and_bad_arguments():
    background = np.linspace(-1, 1, 100)
    mixture, info = mix(background, None)
    np.testing.assert_array_equal(mixture, 0.2 * background)
    assert info["event_gain"] == 0.0
    with pytest.raises(ValueError, match="silent"):
        mix(np.r_[np.zeros(50), np.ones(50)], np.ones(10), 20, 0.0)
    with pytest.raises(ValueError, match="silent"):
        mix(np.ones(100), np.zeros(10), 20, 0.0)
    with pytest.raises(ValueError, match="does not fit"):
        mix(np.ones(100), np.ones(10), 95, 0.0)
    with pytest.raises(ValueError, match="does not fit"):
        mix(np.ones(100), np.ones(10), -1, 0.0)


def test_fit_length_cuts_and_tiles():
    x = np.arange(5.0)
    np.testing.assert_array_equal(fit_length(x, 3), [0, 1, 2])
    np.testing.assert_array_equal(fit_length(x, 12), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1])


# ----------------------------------------------------------------------------------------------
# Synthesis: measured on the written 24-bit files


def test_layout_and_format(mixed):
    root, sets = mixed
    param_hash = mixture_param_hash(MIX, "devtrain")
    assert re.fullmatch(r"[0-9a-f]{32}", param_hash)
    assert mixture_param_hash(MixtureConfig(mixtures_per_class=6, length_seconds=10), "devtrain") == param_hash
    assert mixture_param_hash(MIX, "devtest") != param_hash
    assert [s.class_name for s in sets] == ["babycry", "glassbreak", "gunshot"]
    folder = root / "data" / "mixture_data" / "devtrain" / param_hash
    params = yaml.safe_load((folder / "meta" / "parameters.yaml").read_text())
    assert params["split"] == "devtrain" and params["config"]["mixtures_per_class"] == 6
    for mset in sets:
        assert mset.folder == folder
        recipes = _recipes(mset)
        events = mset.events()
        assert [e.filename for e in events] == list(recipes)
        for name in recipes:
            info = sf.info(str(mset.audio_dir / name))
            assert (info.samplerate, info.channels, info.subtype, info.frames) == (SR, 1, "PCM_24", 10 * SR)
    assert len(list((folder / "audio").glob("*.wav"))) == 18


def test_realised_ebr_and_onsets_match_the_audio(mixed):
    root, sets = mixed
    checked = 0
    for mset in sets:
        recipes = _recipes(mset)
        for event in mset.events():
            if not event.has_event:
                continue
            recipe = recipes[event.filename]
            assert event.onset == pytest.approx(recipe["event_start_in_mixture_seconds"], abs=1e-6)
            assert event.offset == pytest.approx(event.onset + recipe["event_length_seconds"], abs=1e-6)
            assert event.label == mset.class_name
            mixture, background = _mixture_and_background(root, mset, recipe)
            start, stop = round(event.onset * SR), round(event.offset * SR)
            gain = _background_gain(mixture, background, start, stop)
            assert gain == pytest.approx(0.2, rel=1e-6)  # no normalisation at these levels
            diff = mixture - gain * background
            # The event part is zero before the onset and after the offset (24-bit rounding only) ...
            assert np.max(np.abs(diff[:start])) < 2 * LSB24
            assert np.max(np.abs(diff[stop:])) < 2 * LSB24
            # ... and clearly present right after the onset.
            head = diff[start : start + int(0.05 * SR)]
            assert np.sqrt(np.mean(head**2)) > 100 * LSB24
            measured = realised_ebr(mixture, background, gain, start, stop - start)
            assert abs(measured - recipe["ebr"]) < 0.1, (event.filename, measured, recipe["ebr"])
            checked += 1
    assert checked == 9


def test_mixtures_without_event_are_scaled_background(mixed):
    root, sets = mixed
    checked = 0
    for mset in sets:
        recipes = _recipes(mset)
        for event in mset.events():
            if event.has_event:
                continue
            mixture, background = _mixture_and_background(root, mset, recipes[event.filename])
            # libsndfile's float-to-24-bit conversion errs by up to one LSB (not half).
            assert np.max(np.abs(mixture - 0.2 * background)) <= LSB24
            checked += 1
    assert checked == 9


def test_resumes_after_interruption(mixed):
    root, sets = mixed
    folder = sets[0].folder
    before = _digest(folder)
    mset = sets[1]
    victim = sorted(mset.audio_dir.glob(f"mixture_devtrain_{mset.class_name}_*.wav"))[2]
    victim.unlink()
    mset.event_list_path.unlink()
    leftover = mset.audio_dir / f".{victim.name}.abc.part"
    leftover.write_bytes(b"half a file")
    kept = {p: p.stat().st_mtime_ns for p in folder.rglob("*.wav")}
    synthesize(root, "devtrain", "devtrain", MIX, progress=False)
    assert _digest(folder) == before
    assert not leftover.exists()
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())  # nothing rewritten
    # A complete set is left alone entirely.
    lists = {s.event_list_path: s.event_list_path.stat().st_mtime_ns for s in sets}
    synthesize(root, "devtrain", "devtrain", MIX, progress=False)
    assert all(p.stat().st_mtime_ns == t for p, t in lists.items())


def test_changed_recipes_replace_stale_audio(source_copy):
    config = MixtureConfig(mixtures_per_class=2, length_seconds=1.0)
    synthesize(source_copy, "devtrain", "devtrain", config, classes=["gunshot"], progress=False)
    mset = synthesize(source_copy, "devtrain", "devtrain", config, classes=["gunshot"], progress=False)[0]
    stale = mset.audio_dir / "mixture_devtrain_gunshot_000_0123456789abcdef0123456789abcdef.wav"
    stale.write_bytes(b"x")
    text = mset.recipes_path.read_text()
    mset.recipes_path.write_text(text + "# edited by hand\n")
    synthesize(source_copy, "devtrain", "devtrain", config, classes=["gunshot"], progress=False)
    assert mset.recipes_path.read_text() == text
    assert not stale.exists()
    assert sorted(p.name for p in mset.audio_dir.glob("*.wav")) == sorted(e.filename for e in mset.events())


def test_deterministic_across_roots_and_workers(mixed, tmp_path):
    """Another root, rendered in-process, holds the same files as the fixture's two-process render."""
    root, sets = mixed
    other = generate_mini(tmp_path / "a", MINI, progress=False)
    again = synthesize(other, "devtrain", "devtrain", MIX, progress=False, workers=1)
    assert _digest(again[0].folder) == _digest(sets[0].folder)
    reseeded = synthesize(other, "devtrain", "devtrain", MixtureConfig(mixtures_per_class=6, length_seconds=10.0, seed=7), progress=False)
    assert reseeded[0].folder != again[0].folder
    audio = lambda s: set(_digest(s.audio_dir).values())  # noqa: E731
    assert audio(reseeded[0]) != audio(again[0])


def test_other_sample_rate_is_converted(source_copy):
    config = MixtureConfig(mixtures_per_class=2, length_seconds=2.0, sample_rate=22050)
    mset = synthesize(source_copy, "devtest", "devtest", config, classes=["glassbreak"], progress=False)[0]
    for event in mset.events():
        info = sf.info(str(mset.audio_dir / event.filename))
        assert (info.samplerate, info.frames, info.subtype) == (22050, 44100, "PCM_24")


# ----------------------------------------------------------------------------------------------
# Bad input: errors that name the file


def test_missing_root(tmp_path):
    with pytest.raises(DataError, match="no_such_root"):
        synthesize(tmp_path / "no_such_root", "devtrain", "devtrain", MIX, progress=False)


def test_class_without_events_in_yaml(source_copy):
    events_yaml = source_copy / SOURCE_DIR / "cv_setup" / "events_devtrain.yaml"
    data = yaml.safe_load(events_yaml.read_text())
    data["gunshot"] = []
    events_yaml.write_text(yaml.safe_dump(data))
    with pytest.raises(DataError, match="events_devtrain.yaml") as caught:
        synthesize(source_copy, "devtrain", "devtrain", MIX, progress=False)
    assert "gunshot" in str(caught.value)


def test_empty_event_folder(source_copy):
    folder = source_copy / SOURCE_DIR / "events" / "gunshot"
    for path in folder.iterdir():
        path.unlink()
    with pytest.raises(DataError, match=r"gunshot_devtrain_\d+\.wav"):
        synthesize(source_copy, "devtrain", "devtrain", MIX, progress=False)


@pytest.mark.parametrize("relative", ["events/babycry/babycry_devtrain_001.wav", "bgs/cafe/cafe_devtrain_000.wav"])
def test_file_that_is_not_audio(source_copy, relative):
    path = source_copy / SOURCE_DIR / relative
    path.write_bytes(np.random.default_rng(5).bytes(5000))
    with pytest.raises(AudioError, match=re.escape(path.name)):
        synthesize(source_copy, "devtrain", "devtrain", MIX, classes=["babycry"], progress=False)


def test_unknown_class_and_bad_subset(source_copy):
    with pytest.raises(DataError, match="dogbark"):
        synthesize(source_copy, "devtrain", "devtrain", MIX, classes=["dogbark"], progress=False)
    with pytest.raises(ValueError, match="subset"):
        synthesize(source_copy, "dev_train", "devtrain", MIX, progress=False)
