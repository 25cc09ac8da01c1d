"""Tests of rsed.features: log-mel against librosa, labels and steps, the HDF5 cache, statistics."""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from rsed.config import FeatureConfig
from rsed.data.layout import MixtureSet
from rsed.errors import AudioError, CacheError
from rsed.features import (
    CACHE_FORMAT_VERSION,
    build_cache,
    cache_path,
    check_cache,
    compute_stats,
    extract_file,
    frame_labels,
    load_stats,
    logmel,
    logmel_reference,
    open_cache,
    read_cache,
    save_stats,
    to_steps,
)
from rsed.features import cache as feature_cache  # build_cache looks extract_file and _extract_all up here
from rsed.parallel import available_cores

SR = 44100
CONFIG = FeatureConfig()
TOLERANCE_DB = 0.05


def _test_signal(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise, two tones and a stretch of digital silence, float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.02 * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.05 * np.sin(2 * np.pi * 7000.0 * t)
    y[int(0.4 * t.size) : int(0.5 * t.size)] = 0.0
    return y.astype(np.float32)


# --------------------------------------------------------------------------------------
# logmel
# --------------------------------------------------------------------------------------


def test_logmel_matches_librosa_reference_on_30_seconds():
    y = _test_signal(30.0)
    ref = logmel_reference(y, CONFIG)
    ours = logmel(y, CONFIG)
    assert ours.dtype == np.float32 and ref.dtype == np.float32
    assert ours.shape == ref.shape == (1 + y.size // CONFIG.hop_length, CONFIG.n_mels)
    assert np.abs(ours - ref).max() <= TOLERANCE_DB
    # the silent stretch reaches the floor 10 log10(amin) in both
    assert ref.min() == pytest.approx(10 * np.log10(CONFIG.amin))
    assert ours.min() == pytest.approx(10 * np.log10(CONFIG.amin))


@pytest.mark.parametrize("n_samples", [1, 511, 700, 2047, 2049, 3 * 512])
def test_logmel_matches_reference_on_short_signals(n_samples):
    y = _test_signal(0.1, seed=n_samples)[:n_samples]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns when n_fft exceeds the signal
        ref = logmel_reference(y, CONFIG)
    ours = logmel(y, CONFIG)
    assert ours.shape == ref.shape == (1 + n_samples // CONFIG.hop_length, CONFIG.n_mels)
    assert np.abs(ours - ref).max() <= TOLERANCE_DB


def test_logmel_other_parameters_match_reference():
    config = dataclasses.replace(CONFIG, sample_rate=22050, n_fft=1024, hop_length=300, n_mels=40, fmin=50.0, fmax=8000.0)
    y = _test_signal(3.0)
    assert np.abs(logmel(y, config) - logmel_reference(y, config)).max() <= TOLERANCE_DB


def test_logmel_rejects_bad_input():
    with pytest.raises(ValueError):
        logmel(np.zeros((2, 1000), dtype=np.float32), CONFIG)
    with pytest.raises(ValueError):
        logmel(np.zeros(0, dtype=np.float32), CONFIG)


# --------------------------------------------------------------------------------------
# frame labels and steps
# --------------------------------------------------------------------------------------


def test_frame_labels_boundaries_are_exact():
    config = dataclasses.replace(CONFIG, sample_rate=1000, hop_length=100)  # frames every 0.1 s
    labels = frame_labels(10, 0.3, 0.6, config)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0])  # [0.3, 0.6): frame at 0.6 out
    np.testing.assert_array_equal(frame_labels(10, 0.3000001, 0.6000001, config), [0, 0, 0, 0, 1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(frame_labels(10, 0.85, 5.0, config), [0] * 9 + [1])
    np.testing.assert_array_equal(frame_labels(4, None, None, config), [0, 0, 0, 0])


def test_frame_labels_default_config_at_frame_times():
    onset, offset = 10 * CONFIG.hop_length / 44100, 20 * CONFIG.hop_length / 44100
    labels = frame_labels(30, onset, offset, CONFIG)
    assert labels.sum() == 10 and labels[10] == 1 and labels[9] == 0 and labels[19] == 1 and labels[20] == 0


def test_to_steps_shapes_view_and_majority():
    frames = np.arange(19 * 2, dtype=np.float32).reshape(19, 2)
    labels = np.array([1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1], dtype=np.uint8)
    steps, step_labels = to_steps(frames, labels, 4)
    assert steps.shape == (4, 4, 2)
    assert np.shares_memory(steps, frames)
    np.testing.assert_array_equal(steps[1, 0], frames[4])
    np.testing.assert_array_equal(steps[3, 3], frames[15])
    assert step_labels.dtype == np.uint8
    np.testing.assert_array_equal(step_labels, [1, 0, 1, 0])  # half counts; trailing 3 frames dropped
    steps3, labels3 = to_steps(frames[:6], np.array([1, 1, 0, 1, 0, 0]), 3)  # odd step: 2 of 3 yes, 1 of 3 no
    assert steps3.shape == (2, 3, 2)
    np.testing.assert_array_equal(labels3, [1, 0])
    steps_only, none = to_steps(frames, None, 8)
    assert steps_only.shape == (2, 8, 2) and none is None
    empty, empty_labels = to_steps(frames[:3], labels[:3], 4)
    assert empty.shape == (0, 4, 2) and empty_labels.shape == (0,)


# --------------------------------------------------------------------------------------
# the HDF5 cache
# --------------------------------------------------------------------------------------

FILES = {  # name: (seconds, event or None)
    "mixture_devtest_babycry_000_aa.wav": (4.0, (1.0, 2.5)),
    "mixture_devtest_babycry_001_bb.wav": (3.0, None),
    "mixture_devtest_babycry_002_cc.wav": (5.0, (0.5, 4.5)),
}


def _make_mixture_set(root: Path, files=FILES, class_name="babycry") -> MixtureSet:
    mixtures = MixtureSet(root, "devtest", "abc123", class_name)
    mixtures.audio_dir.mkdir(parents=True, exist_ok=True)
    mixtures.event_list_path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, (name, (seconds, event)) in enumerate(sorted(files.items())):
        sf.write(mixtures.audio_dir / name, 0.5 * _test_signal(seconds, seed=index), SR, subtype="PCM_24")
        lines.append(name if event is None else f"{name}\t{event[0]:.6f}\t{event[1]:.6f}\t{class_name}")
    mixtures.event_list_path.write_text("\n".join(reversed(lines)) + "\n")  # unsorted on purpose
    return mixtures


@pytest.fixture
def mixtures(tmp_path) -> MixtureSet:
    return _make_mixture_set(tmp_path / "root")


class _CountingExtractor:
    """Stands in for feature_cache.extract_file in-process and counts the calls."""

    def __init__(self):
        self.calls = 0
        self.real = feature_cache.extract_file

    def __call__(self, path, config):
        self.calls += 1
        return self.real(path, config)


def test_build_cache_contents(mixtures, tmp_path):
    path = build_cache(mixtures, CONFIG, tmp_path / "cache", workers=1, progress=False)
    assert path == cache_path(mixtures, CONFIG, tmp_path / "cache")
    assert path.name == f"features_devtest_babycry_abc123_{CONFIG.key()}.h5"
    assert not list(path.parent.glob("*.part"))
    clips = read_cache(path, CONFIG)
    assert [c.filename for c in clips] == sorted(FILES)
    for clip in clips:
        seconds, event = FILES[clip.filename]
        expected = extract_file(mixtures.audio_dir / clip.filename, CONFIG)
        assert clip.logmel.dtype == np.float32 and clip.labels.dtype == np.uint8
        np.testing.assert_array_equal(clip.logmel, expected)
        assert clip.logmel.shape == (1 + int(seconds * SR) // CONFIG.hop_length, CONFIG.n_mels)
        if event is None:
            assert not clip.has_event and clip.onset is None and clip.offset is None and clip.label is None
            assert clip.labels.sum() == 0
        else:
            assert clip.has_event and clip.label == "babycry"
            assert (clip.onset, clip.offset) == pytest.approx(event)
            np.testing.assert_array_equal(clip.labels, frame_labels(len(expected), event[0], event[1], CONFIG))
            assert clip.labels.sum() > 0
    attrs = check_cache(path, CONFIG)
    assert attrs["format_version"] == CACHE_FORMAT_VERSION
    assert attrs["feature_config"] == dataclasses.asdict(CONFIG)
    assert (attrs["class_name"], attrs["subset"], attrs["n_clips"]) == ("babycry", "devtest", 3)
    with h5py.File(path, "r") as handle:
        group = handle["clips/mixture_devtest_babycry_001_bb"]
        assert np.isnan(group.attrs["onset"]) and np.isnan(group.attrs["offset"]) and group.attrs["label"] == ""
        assert len(handle.attrs["inputs_fingerprint"]) == 64


def test_build_cache_reuses_then_rebuilds_on_changed_inputs(mixtures, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    path = build_cache(mixtures, CONFIG, cache_dir, workers=1, progress=False)
    stamp = path.stat().st_mtime_ns
    counter = _CountingExtractor()
    monkeypatch.setattr(feature_cache, "extract_file", counter)

    assert build_cache(mixtures, CONFIG, cache_dir, workers=1, progress=False) == path
    assert counter.calls == 0 and path.stat().st_mtime_ns == stamp

    # touching one audio file rebuilds
    audio = mixtures.audio_dir / "mixture_devtest_babycry_001_bb.wav"
    info = audio.stat()
    os.utime(audio, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    build_cache(mixtures, CONFIG, cache_dir, workers=1, progress=False)
    assert counter.calls == len(FILES)
    build_cache(mixtures, CONFIG, cache_dir, workers=1, progress=False)
    assert counter.calls == len(FILES)

    # a changed event list rebuilds, and the labels follow it
    text = mixtures.event_list_path.read_text().replace("1.000000\t2.500000", "2.000000\t3.000000")
    mixtures.event_list_path.write_text(text)
    build_cache(mixtures, CONFIG, cache_dir, workers=1, progress=False)
    assert counter.calls == 2 * len(FILES)
    clip = next(c for c in read_cache(path) if c.filename == "mixture_devtest_babycry_000_aa.wav")
    assert (clip.onset, clip.offset) == (2.0, 3.0)
    np.testing.assert_array_equal(clip.labels, frame_labels(len(clip.labels), 2.0, 3.0, CONFIG))


def test_other_feature_parameters_give_another_file(mixtures, tmp_path):
    cache_dir = tmp_path / "cache"
    first = build_cache(mixtures, CONFIG, cache_dir, workers=1, progress=False)
    other_hop = 2 * CONFIG.hop_length
    other_config = dataclasses.replace(CONFIG, hop_length=other_hop)
    second = build_cache(mixtures, other_config, cache_dir, workers=1, progress=False)
    assert first != second and first.is_file() and second.is_file()
    assert read_cache(second)[0].logmel.shape[0] == 1 + int(4.0 * SR) // other_hop
    with pytest.raises(CacheError, match="hop_length") as caught:
        check_cache(first, other_config)
    assert first.name in str(caught.value)


def _corrupt_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_garbage(path):
    path.write_bytes(b"this is not an HDF5 file" * 10)


def _corrupt_version(path):
    with h5py.File(path, "r+") as handle:
        handle.attrs["format_version"] = CACHE_FORMAT_VERSION + 1


def _corrupt_incomplete(path):
    with h5py.File(path, "r+") as handle:
        del handle.attrs["n_clips"]


def _corrupt_missing_clip(path):
    with h5py.File(path, "r+") as handle:
        del handle["clips/mixture_devtest_babycry_001_bb"]


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (_corrupt_truncate, "HDF5"),
        (_corrupt_garbage, "HDF5"),
        (_corrupt_version, "format version"),
        (_corrupt_incomplete, "incomplete"),
        (_corrupt_missing_clip, "incomplete"),
    ],
)
def test_bad_cache_raises_cache_error_and_is_rebuilt(mixtures, tmp_path, corrupt, message):
    cache_dir = tmp_path / "cache"
    path = build_cache(mixtures, CONFIG, cache_dir, workers=1, progress=False)
    good = [c.logmel for c in read_cache(path)]
    corrupt(path)
    with pytest.raises(CacheError, match=message) as caught:
        check_cache(path, CONFIG)
    assert str(path) in str(caught.value) and caught.value.path == path
    with pytest.raises(CacheError):
        read_cache(path)
    build_cache(mixtures, CONFIG, cache_dir, workers=1, progress=False)
    for clip, expected in zip(read_cache(path, CONFIG), good, strict=True):
        np.testing.assert_array_equal(clip.logmel, expected)


def test_missing_cache_raises_cache_error(tmp_path):
    with pytest.raises(CacheError, match="not found"):
        open_cache(tmp_path / "nothing.h5")


def test_workers_give_identical_datasets(mixtures, tmp_path):
    one = build_cache(mixtures, CONFIG, tmp_path / "one", workers=1, progress=False)
    two = build_cache(mixtures, CONFIG, tmp_path / "two", workers=2, progress=False)
    with h5py.File(one, "r") as a, h5py.File(two, "r") as b:
        assert list(a["clips"]) == list(b["clips"])
        assert dict(a.attrs) == dict(b.attrs)
        for name in a["clips"]:
            for dataset in ("logmel", "labels"):
                x, y = a["clips"][name][dataset], b["clips"][name][dataset]
                assert x.dtype == y.dtype and x.shape == y.shape
                assert x[()].tobytes() == y[()].tobytes()
            assert dict(a["clips"][name].attrs).keys() == dict(b["clips"][name].attrs).keys()


def test_unreadable_audio_fails_cleanly_in_pool(mixtures, tmp_path):
    bad = mixtures.audio_dir / "mixture_devtest_babycry_002_cc.wav"
    bad.write_bytes(b"not audio at all")
    cache_dir = tmp_path / "cache"
    with pytest.raises(AudioError) as caught:
        build_cache(mixtures, CONFIG, cache_dir, workers=2, progress=False)
    assert caught.value.path == bad
    assert not cache_dir.exists() or not any(cache_dir.iterdir())  # no half-written file left


# --------------------------------------------------------------------------------------
# normalisation statistics
# --------------------------------------------------------------------------------------


def test_compute_stats_on_known_values(tmp_path, monkeypatch):
    n_mels = CONFIG.n_mels
    known = {  # frames per clip; band 0 takes the values below, band 1 is constant 2.0
        "mixture_devtest_babycry_000_aa.wav": [1.0, 3.0],
        "mixture_devtest_babycry_001_bb.wav": [5.0],
        "mixture_devtest_gunshot_000_dd.wav": [7.0],
    }

    def fake_extract(path, config):
        values = np.asarray(known[Path(path).name], dtype=np.float32)
        out = np.full((values.size, n_mels), 2.0, dtype=np.float32)
        out[:, 0] = values
        out[:, 2] = np.arange(values.size) + 1e6  # large offset: naive sum of squares would lose it
        return out

    monkeypatch.setattr(feature_cache, "extract_file", fake_extract)
    root = tmp_path / "root"
    babycry = _make_mixture_set(root, {k: (1.0, None) for k in list(known)[:2]})
    gunshot = _make_mixture_set(root, {list(known)[2]: (1.0, (0.1, 0.5))}, class_name="gunshot")
    paths = [build_cache(s, CONFIG, tmp_path / "cache", workers=1, progress=False) for s in (babycry, gunshot)]
    mean, std = compute_stats(paths)
    assert mean.dtype == std.dtype == np.float32 and mean.shape == std.shape == (n_mels,)
    assert mean[0] == pytest.approx(4.0) and std[0] == pytest.approx(np.sqrt(5.0))
    assert mean[1] == pytest.approx(2.0) and std[1] == pytest.approx(1e-6)  # floored
    frames2 = np.array([1e6, 1e6 + 1, 1e6, 1e6])
    assert std[2] == pytest.approx(frames2.std(), rel=1e-6)

    other = build_cache(gunshot, dataclasses.replace(CONFIG, n_mels=64), tmp_path / "cache", workers=1, progress=False)
    with pytest.raises(CacheError):
        compute_stats([paths[0], other])


def test_compute_stats_matches_concatenation(mixtures, tmp_path):
    path = build_cache(mixtures, CONFIG, tmp_path / "cache", workers=1, progress=False)
    everything = np.concatenate([c.logmel for c in read_cache(path)]).astype(np.float64)
    mean, std = compute_stats([path])
    np.testing.assert_allclose(mean, everything.mean(axis=0), rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(std, everything.std(axis=0), rtol=1e-5, atol=1e-4)


def test_stats_round_trip_and_errors(tmp_path):
    mean = np.array([-50.5, 3.25, 1e-3], dtype=np.float32)
    std = np.array([10.0, 1e-6, 7.1], dtype=np.float32)
    path = tmp_path / "stats" / "stats.json"
    save_stats(path, mean, std)
    got_mean, got_std = load_stats(path)
    assert got_mean.dtype == got_std.dtype == np.float32
    np.testing.assert_array_equal(got_mean, mean)
    np.testing.assert_array_equal(got_std, std)
    with pytest.raises(CacheError, match="not found"):
        load_stats(tmp_path / "missing.json")
    path.write_text('{"format_version": 1, "n_mels": 3, "mean": [1, 2, 3]}')
    with pytest.raises(CacheError, match="malformed"):
        load_stats(path)
    path.write_text("{not json")
    with pytest.raises(CacheError, match="unreadable"):
        load_stats(path)


def test_build_cache_uses_every_available_core_by_default(mixtures, tmp_path, monkeypatch):
    """workers=None extracts with one process per core this process may use."""
    assert available_cores() == len(os.sched_getaffinity(0))
    seen = []
    real = feature_cache._extract_all

    def spy(paths, config, workers, extractor=None):
        seen.append(workers)
        return real(paths, config, 1, extractor)  # no pool in the test itself

    monkeypatch.setattr(feature_cache, "_extract_all", spy)
    build_cache(mixtures, CONFIG, tmp_path / "cache", progress=False)
    assert seen == [min(available_cores(), len(FILES))]
