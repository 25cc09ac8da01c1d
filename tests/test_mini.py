"""Tests of rsed.data.mini: the embedded mini dataset in the development set's source layout."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from rsed.audio import load_audio
from rsed.config import MiniDataConfig
from rsed.data.layout import MIXTURE_DIR, SOURCE_DIR, SPLITS, read_source_split
from rsed.data.mini import EVENT_CHAINS, EVENT_SECONDS, FAMILIES, HELD_OUT_FAMILIES, MARKER, SCENES, SOURCES_FILE, generate_mini
from rsed.errors import DataError

#: Four events per class and split: devtest cycles through every family, the held-out one included.
MINI = MiniDataConfig(events_per_class_per_split=4, bgs_per_scene_per_split=1, background_seconds=10.0)
SR = MINI.sample_rate


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory) -> Path:
    """A tiny mini source tree shared by the tests of this file (never modified)."""
    return generate_mini(tmp_path_factory.mktemp("mini"), MINI, progress=False)


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_layout_is_the_development_source_layout(mini_root):
    base = mini_root / SOURCE_DIR
    assert sorted(p.name for p in base.iterdir()) == ["bgs", "cv_setup", "events", MARKER, SOURCES_FILE]
    assert sorted(p.name for p in (base / "bgs").iterdir()) == sorted(SCENES)
    assert sorted(p.name for p in (base / "events").iterdir()) == sorted(MINI.classes)
    assert sorted(p.name for p in (base / "cv_setup").iterdir()) == [
        "bgs_devtest.yaml",
        "bgs_devtrain.yaml",
        "events_devtest.yaml",
        "events_devtrain.yaml",
    ]
    for scene in SCENES:
        assert len(list((base / "bgs" / scene).glob("*.wav"))) == 2 * MINI.bgs_per_scene_per_split
    for class_name in MINI.classes:
        assert len(list((base / "events" / class_name).glob("*.wav"))) == 2 * MINI.events_per_class_per_split
    files = [p for p in base.rglob("*") if p.is_file()]
    assert len(files) == 2 + 4 + 2 * (len(SCENES) * MINI.bgs_per_scene_per_split + 3 * MINI.events_per_class_per_split)
    for path in files:
        if path.suffix == ".wav":
            info = sf.info(str(path))
            assert (info.channels, info.subtype) == (1, "PCM_16")
            # Backgrounds come from one device at 44.1 kHz (as TUT's); events at their own native rate.
            split = "devtest" if "devtest" in path.name else "devtrain"
            assert info.samplerate == SR if "bgs" in path.parts else info.samplerate in EVENT_CHAINS[split].rates
    marker = json.loads((base / MARKER).read_text())
    assert marker["config"]["seed"] == MINI.seed and marker["generator_version"] >= 1


def test_yaml_reads_as_source_splits(mini_root):
    raw = yaml.safe_load((mini_root / SOURCE_DIR / "cv_setup" / "bgs_devtrain.yaml").read_text())
    assert set(raw[0]) == {"filepath", "classname"} and raw[0]["filepath"].startswith(raw[0]["classname"] + "/")
    raw = yaml.safe_load((mini_root / SOURCE_DIR / "cv_setup" / "events_devtest.yaml").read_text())
    assert set(raw) == set(MINI.classes) and set(raw["babycry"][0]) == {"audio_filename", "segment"}
    for split in SPLITS:
        sources = read_source_split(mini_root, split)
        assert sources.classes == sorted(MINI.classes)
        assert all(len(v) == MINI.events_per_class_per_split for v in sources.events.values())
        assert sorted(b.scene for b in sources.backgrounds) == sorted(SCENES)
        for bg in sources.backgrounds:
            assert sf.info(str(bg.path)).frames == round(MINI.background_seconds * SR)


def test_event_segments(mini_root):
    for split in SPLITS:
        for class_name, events in read_source_split(mini_root, split).events.items():
            lo, hi = EVENT_SECONDS[class_name]
            for ev in events:
                start, end = ev.segment
                assert lo - 1e-9 <= end - start <= hi + 1e-9
                y = load_audio(ev.path, SR, warn_upsampled=False)
                total = y.size / SR
                assert 0.1 - 1e-6 <= start <= 0.5 + 1e-6
                assert 0.1 - 1e-6 <= total - end <= 0.5 + 1e-6
                inside = y[round(start * SR) : round(end * SR)]
                lead = y[: round(start * SR)]
                # The lead-in is a low-level floor (RMS 45-60 dB below the event peak).
                assert 20 * np.log10(np.max(np.abs(inside)) / np.sqrt(np.mean(lead**2))) > 40.0
                assert 0.2 < np.max(np.abs(y)) < 1.0


def test_splits_are_disjoint(mini_root):
    base = mini_root / SOURCE_DIR
    names = {}
    for split in SPLITS:
        cv = base / "cv_setup"
        events = yaml.safe_load((cv / f"events_{split}.yaml").read_text())
        bgs = yaml.safe_load((cv / f"bgs_{split}.yaml").read_text())
        names[split] = {e["audio_filename"] for v in events.values() for e in v} | {b["filepath"] for b in bgs}
    assert names["devtrain"].isdisjoint(names["devtest"])
    digests = _digest(base)
    train = {d for k, d in digests.items() if "devtrain" in k}
    test = {d for k, d in digests.items() if "devtest" in k}
    assert train.isdisjoint(test)


def _loudest_frame(y: np.ndarray, size: int) -> np.ndarray:
    energy = np.convolve(y**2, np.ones(size), mode="valid")[::256]
    start = int(np.argmax(energy)) * 256
    return y[start : start + size]


def _families(root: Path, split: str, class_name: str) -> dict[str, str]:
    """``{file name: family}`` of a split's events of one class (from the sources file)."""
    meta = json.loads((root / SOURCE_DIR / SOURCES_FILE).read_text())
    return {e["file"]: e["family"] for e in meta[split]["events"][class_name]}


def test_class_signatures(mini_root):
    """Cheap checks that each class sounds like its description (not just 'something loud'), on the dry-ish training files."""
    sources = read_source_split(mini_root, "devtrain")
    for ev in sources.events["babycry"]:
        y = load_audio(ev.path, SR, warn_upsampled=False)
        frame = _loudest_frame(y[round(ev.segment[0] * SR) : round(ev.segment[1] * SR)], 4096)
        frame = frame - frame.mean()
        ac = np.correlate(frame, frame, mode="full")[frame.size - 1 :]
        lags = np.arange(SR // 2500, SR // 200)
        best = lags[np.argmax(ac[lags])]
        assert 200 <= SR / best <= 2500  # f0 in the cry range (hyperphonation of a newborn reaches 2 kHz)
        assert ac[best] / ac[0] > 0.3  # periodic (harmonic)
    families = _families(mini_root, "devtrain", "glassbreak")
    for ev in sources.events["glassbreak"]:
        y = load_audio(ev.path, SR, warn_upsampled=False)[round(ev.segment[0] * SR) : round(ev.segment[1] * SR)]
        spec = np.abs(np.fft.rfft(y)) ** 2
        freqs = np.fft.rfftfreq(y.size, 1 / SR)
        share = spec[freqs > 1000].sum() / spec.sum()
        assert share > (0.2 if families[ev.path.name] == "bottle" else 0.5)  # energy mostly high (a bottle's body thuds)
    for ev in sources.events["gunshot"]:
        y = load_audio(ev.path, SR, warn_upsampled=False)[round(ev.segment[0] * SR) : round(ev.segment[1] * SR)]
        # Impulsive: the loudest 20 ms lie in the first 200 ms (a crack, then the muzzle blast of a rifle) ...
        energy = np.convolve(y**2, np.ones(int(0.02 * SR)), mode="valid")
        assert np.argmax(energy) < 0.2 * SR
        # ... and much of the energy in the first blast (the tail and other shots hold the rest).
        assert np.sum(y[: int(0.2 * SR)] ** 2) / np.sum(y**2) > 0.1


def test_held_out_designs_and_chains(mini_root):
    """Devtest holds a family per class that devtrain never has, and devtest's chains reach rates devtrain's never do."""
    for class_name in MINI.classes:
        train = set(_families(mini_root, "devtrain", class_name).values())
        test = set(_families(mini_root, "devtest", class_name).values())
        assert train.isdisjoint(HELD_OUT_FAMILIES[class_name])
        assert test == set(FAMILIES[class_name])  # four devtest events cycle through all four families
    meta = json.loads((mini_root / SOURCE_DIR / SOURCES_FILE).read_text())
    for split in SPLITS:
        for class_name, entries in meta[split]["events"].items():
            for entry in entries:
                info = sf.info(str(mini_root / SOURCE_DIR / "events" / class_name / entry["file"]))
                assert info.samplerate == entry["chain"]["native_rate"]
        variants = {b["variant"] for b in meta[split]["bgs"]}
        assert variants == {None} if split == "devtrain" else variants <= {None, "rain", "kitchen", "hvac"}
    assert 8000 in EVENT_CHAINS["devtest"].rates and 8000 not in EVENT_CHAINS["devtrain"].rates


def test_deterministic_and_seeded(mini_root, tmp_path):
    """Same seed, same files, whether made in one process or two; another seed, other audio."""
    config = MiniDataConfig(events_per_class_per_split=1, bgs_per_scene_per_split=1, background_seconds=3.0)
    a = generate_mini(tmp_path / "a", config, progress=False, workers=1)
    b = generate_mini(tmp_path / "b", config, progress=False, workers=2)
    assert _digest(a / SOURCE_DIR) == _digest(b / SOURCE_DIR)
    c = generate_mini(tmp_path / "c", MiniDataConfig(seed=1, events_per_class_per_split=1, bgs_per_scene_per_split=1, background_seconds=3.0), progress=False)
    wav = lambda root: {k: v for k, v in _digest(root / SOURCE_DIR).items() if k.endswith(".wav")}  # noqa: E731
    assert wav(a).keys() == wav(c).keys()
    assert set(wav(a).values()).isdisjoint(wav(c).values())
    # File i does not depend on how many files are made: the first event equals the tiny fixture's.
    name = "events/gunshot/gunshot_devtest_000.wav"
    assert _digest(a / SOURCE_DIR)[name] == _digest(mini_root / SOURCE_DIR)[name]


def test_idempotent_and_regenerates_on_new_config(tmp_path):
    config = MiniDataConfig(events_per_class_per_split=2, bgs_per_scene_per_split=1, background_seconds=2.0)
    root = generate_mini(tmp_path, config, progress=False)
    base = root / SOURCE_DIR
    times = {p: p.stat().st_mtime_ns for p in base.rglob("*") if p.is_file()}
    generate_mini(root, config, progress=False)
    assert {p: p.stat().st_mtime_ns for p in base.rglob("*") if p.is_file()} == times
    (root / MIXTURE_DIR / "devtrain").mkdir(parents=True)  # mixtures made from the old sources
    smaller = MiniDataConfig(events_per_class_per_split=1, bgs_per_scene_per_split=1, background_seconds=2.0, classes=("gunshot",))
    generate_mini(root, smaller, progress=False)
    assert sorted(p.name for p in (base / "events").iterdir()) == ["gunshot"]
    assert len(list((base / "events" / "gunshot").glob("*.wav"))) == 2
    assert json.loads((base / MARKER).read_text())["config"]["classes"] == ["gunshot"]
    assert not (root / MIXTURE_DIR).exists()
    assert read_source_split(root, "devtest").classes == ["gunshot"]


def test_refuses_to_overwrite_foreign_sources(tmp_path):
    foreign = tmp_path / SOURCE_DIR / "bgs" / "home"
    foreign.mkdir(parents=True)
    (foreign / "real.wav").write_bytes(b"not ours")
    with pytest.raises(DataError, match="source_data"):
        generate_mini(tmp_path, MINI, progress=False)
    assert (foreign / "real.wav").read_bytes() == b"not ours"


def test_rejects_unknown_class():
    with pytest.raises(ValueError, match="dogbark"):
        generate_mini("/nonexistent-never-created", MiniDataConfig(classes=("dogbark",)), progress=False)


def test_in_distribution_and_dry_variants(tmp_path):
    """``held_out=False``: devtest draws from devtrain's distribution; ``recording_chains=False``: dry 44.1 kHz events."""
    config = MiniDataConfig(events_per_class_per_split=4, bgs_per_scene_per_split=1, background_seconds=3.0, classes=("gunshot",), held_out=False, recording_chains=False)
    root = generate_mini(tmp_path, config, progress=False)
    assert set(_families(root, "devtest", "gunshot").values()).isdisjoint(HELD_OUT_FAMILIES["gunshot"])
    meta = json.loads((root / SOURCE_DIR / SOURCES_FILE).read_text())
    assert {b["variant"] for b in meta["devtest"]["bgs"]} == {None}
    for split in SPLITS:
        for entry in meta[split]["events"]["gunshot"]:
            assert entry["chain"]["native_rate"] == SR and entry["chain"]["rt60"] == 0.0
            assert sf.info(str(root / SOURCE_DIR / "events" / "gunshot" / entry["file"])).samplerate == SR
