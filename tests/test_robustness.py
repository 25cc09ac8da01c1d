"""Bad input is refused clearly (an error naming the file and the reason) or converted as documented.

Covers the audio loader (empty, random, truncated, NaN/inf, silent, empty, 8 kHz, unreadable),
the command line on such files, feature caches of another version, event lists, malicious
archives and model folders that would run code when loaded (docs/robustness.md).
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import stat
import struct
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from rsed.audio import load_audio
from rsed.cli import main as cli_main
from rsed.config import FeatureConfig, ModelConfig, TrainConfig
from rsed.data import archives
from rsed.data.layout import find_mixture_sets, read_event_list
from rsed.errors import AudioError, CacheError, DataError, RsedError
from rsed.features import CACHE_FORMAT_VERSION, build_cache, extract_file, read_cache
from rsed.fileio import write_text

SR = 44100
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _write(path: Path, y, rate=SR, subtype="PCM_16") -> Path:
    sf.write(str(path), np.asarray(y), rate, subtype=subtype, format="WAV")
    return path


def _tone(seconds=1.0, rate=SR, freq=1000.0):
    t = np.arange(int(seconds * rate)) / rate
    return 0.5 * np.sin(2 * np.pi * freq * t)


# ----------------------------------------------------------------------------------------------
# The audio loader


def _empty(p):
    p.write_bytes(b"")


def _random(p):
    p.write_bytes(np.random.default_rng(0).bytes(4000))


def _text(p):
    p.write_text("RIFF? no, a text file\n" * 20)


def _header_cut(p):
    _write(p, _tone(0.1))
    p.write_bytes(p.read_bytes()[:30])


def _data_cut(p):
    _write(p, _tone(1.0))
    p.write_bytes(p.read_bytes()[:20000])  # the header still says 44100 samples


def _nan(p):
    _write(p, np.where(np.arange(1000) == 500, np.nan, 0.1), subtype="FLOAT")


def _inf(p):
    _write(p, np.where(np.arange(1000) == 500, -np.inf, 0.1), subtype="FLOAT")


def _no_samples(p):
    _write(p, np.zeros(0))


def _rate_1hz(p):
    _write(p, _tone(0.01), rate=1)


def _folder(p):
    p.mkdir()


@pytest.mark.parametrize(
    "make, reason",
    [
        (_empty, "not a readable audio file"),
        (_random, "not a readable audio file"),
        (_text, "not a readable audio file"),
        (_header_cut, "not a readable audio file"),
        (_data_cut, "truncated"),
        (_nan, "NaN or infinite"),
        (_inf, "NaN or infinite"),
        (_no_samples, "no samples"),
        (_rate_1hz, "below 8000 Hz"),
        (_folder, "not a regular file"),
        (lambda p: None, "file not found"),
    ],
)
def test_bad_audio_is_refused_with_the_file_and_the_reason(tmp_path, make, reason):
    path = tmp_path / "recording.wav"
    make(path)
    with pytest.raises(AudioError, match=reason) as caught:
        load_audio(path)
    assert caught.value.path == path and str(path) in str(caught.value)


def test_silence_is_accepted_with_a_warning_and_features_at_the_log_floor(tmp_path, caplog):
    path = _write(tmp_path / "silence.wav", np.zeros(SR))
    with caplog.at_level(logging.WARNING, logger="rsed.audio"):
        y = load_audio(path)
    assert y.shape == (SR,) and not np.any(y)
    assert "silence.wav" in caplog.text and "silent" in caplog.text
    config = FeatureConfig()
    features = extract_file(path, config)
    np.testing.assert_allclose(features, 10 * np.log10(config.amin), atol=1e-4)  # -100 dB everywhere


def test_8khz_audio_is_resampled_with_a_warning(tmp_path, caplog):
    path = _write(tmp_path / "phone.wav", _tone(2.0, rate=8000, freq=1000.0), rate=8000)
    with caplog.at_level(logging.WARNING, logger="rsed.audio"):
        y = load_audio(path)
    assert y.shape == (2 * SR,)
    assert "8000 Hz" in caplog.text and "phone.wav" in caplog.text
    spectrum = np.abs(np.fft.rfft(y[SR // 2 : SR // 2 + SR]))  # one second: bins are 1 Hz apart
    assert abs(int(np.argmax(spectrum)) - 1000) <= 1  # still a 1 kHz tone
    assert spectrum[4100:].max() < 1e-3 * spectrum.max()  # nothing above the old Nyquist frequency


def test_other_conversions(tmp_path):
    stereo = _write(tmp_path / "stereo.wav", np.stack([_tone(0.1), np.zeros(int(0.1 * SR))], axis=1))
    np.testing.assert_allclose(load_audio(stereo), 0.5 * _tone(0.1), atol=1e-4)  # channels averaged
    loud = _write(tmp_path / "loud.wav", 3.0 * _tone(0.1), subtype="FLOAT")
    assert load_audio(loud).max() == pytest.approx(1.5, rel=1e-4)  # float beyond full scale: kept, not clipped
    # A streaming recorder's placeholder data size (0xFFFFFFFF): the samples up to the end of the file.
    data = bytearray(_write(tmp_path / "streamed.wav", _tone(0.1)).read_bytes())
    assert data[36:40] == b"data"
    data[40:44] = struct.pack("<I", 0xFFFFFFFF)
    (tmp_path / "streamed.wav").write_bytes(bytes(data))
    assert load_audio(tmp_path / "streamed.wav").shape == (int(0.1 * SR),)


def test_audio_shorter_than_one_step_is_refused_by_the_feature_extractor(tmp_path):
    config = FeatureConfig()
    path = _write(tmp_path / "click.wav", _tone(0.05))
    assert load_audio(path).shape == (int(0.05 * SR),)
    with pytest.raises(AudioError, match="too short") as caught:
        extract_file(path, config)
    assert caught.value.path == path
    assert extract_file(_write(tmp_path / "ok.wav", _tone(0.1)), config).shape[0] >= config.frames_per_step


@pytest.mark.skipif(IS_ROOT, reason="root reads files whatever their permissions")
def test_unreadable_file_and_folder_for_real(tmp_path):
    path = _write(tmp_path / "a.wav", _tone(0.1))
    path.chmod(0)
    try:
        with pytest.raises(AudioError, match="cannot read|not a readable") as caught:
            load_audio(path)
        assert caught.value.path == path
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    folder = tmp_path / "locked"
    folder.mkdir()
    inner = _write(folder / "b.wav", _tone(0.1))
    folder.chmod(0)
    try:
        with pytest.raises(AudioError, match="cannot access|cannot read") as caught:
            load_audio(inner)
        assert caught.value.path == inner
    finally:
        folder.chmod(stat.S_IRWXU)


def test_permission_errors_are_reported_not_raised(tmp_path, monkeypatch):
    """The same as the real test above, with the operating system's refusal simulated (tests run as root too)."""
    path = _write(tmp_path / "a.wav", _tone(0.1))
    event_list = tmp_path / "event_list_devtest_gunshot.csv"
    event_list.write_text("a.wav\n")
    real_stat = Path.stat

    def refusing_stat(self, *args, **kwargs):
        if self in (path, event_list):
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", refusing_stat)
    with pytest.raises(AudioError, match="Permission denied") as caught:
        load_audio(path)
    assert caught.value.path == path
    with pytest.raises(DataError, match="Permission denied") as caught:
        read_event_list(event_list)
    assert caught.value.path == event_list


def test_unlistable_mixture_folder_is_an_error_not_a_missing_subset(tmp_path, monkeypatch):
    meta = tmp_path / "data" / "mixture_data" / "devtest" / "abc" / "meta"
    meta.mkdir(parents=True)
    (meta / "event_list_devtest_gunshot.csv").write_text("a.wav\n")
    assert [s.class_name for s in find_mixture_sets(tmp_path, "devtest")] == ["gunshot"]
    real_iterdir = Path.iterdir

    def refusing_iterdir(self):
        if self.name == "abc":
            raise PermissionError(13, "Permission denied", str(self))
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", refusing_iterdir)
    with pytest.raises(DataError, match="cannot list the folder") as caught:
        find_mixture_sets(tmp_path, "devtest")
    assert caught.value.path == meta.parent


def test_unwritable_output_is_an_error_naming_the_file(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(RsedError, match="cannot write here") as caught:
        write_text(blocker / "table4.md", "x")
    assert caught.value.path == blocker / "table4.md"


# ----------------------------------------------------------------------------------------------
# The command line on bad recordings and untrusted model folders


@pytest.fixture(scope="module")
def detector_folder(tmp_path_factory):
    """An untrained tiny detector (only its loading and the audio path are under test)."""
    import keras

    from rsed.config import paper_postprocess
    from rsed.models.detector import Decision, DetectorSpec, save_detector
    from rsed.training.fit import build_model

    model_config = ModelConfig(timesteps=2, conv_filters=2, spectral_filters=2, dense_units=4)
    model = build_model("cnn", model_config, FeatureConfig().frames_per_step, 128, seed=0)
    decided = (("t2", Decision(paper_postprocess("gunshot"), ("cnn",))),)  # its settings recorded, as a run records them: no note
    spec = DetectorSpec("gunshot", "cnn", model_config, FeatureConfig(), TrainConfig(), (0.0,) * 128, (1.0,) * 128, decisions=decided)
    folder = save_detector(tmp_path_factory.mktemp("models") / "gunshot_cnn_t2", model, spec)
    keras.backend.clear_session()
    return folder


def test_detect_reports_each_bad_file_in_one_line(detector_folder, tmp_path, capsys):
    files = {
        "random.wav": _random,
        "cut.wav": _data_cut,
        "click.wav": lambda p: _write(p, _tone(0.05)),
        "nan.wav": _nan,
    }
    for name, make in files.items():
        path = tmp_path / name
        make(path)
        assert cli_main(["detect", str(path), "--models", str(detector_folder)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("rsed: error:") and str(path) in err and "\n" not in err and "Traceback" not in err


def test_detect_accepts_silence_and_8khz(detector_folder, tmp_path, capsys):
    silence = _write(tmp_path / "silence.wav", np.zeros(2 * SR))
    phone = _write(tmp_path / "phone.wav", _tone(2.0, rate=8000), rate=8000)
    assert cli_main(["detect", str(silence), str(phone), "--models", str(detector_folder), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # JSON lines, one per file and class
    assert [Path(r["file"]).name for r in rows] == ["silence.wav", "phone.wav"]


def test_model_with_code_is_refused_in_safe_mode_and_its_code_never_runs(detector_folder, tmp_path, capsys):
    import keras

    from rsed.models.detector import load_detector

    model, spec = load_detector(detector_folder)  # our own layers load in safe mode
    assert spec.class_name == "gunshot" and model.input_shape == (None, 2, FeatureConfig().frames_per_step, 128, 1)

    marker = tmp_path / "code_ran"

    def payload(x):
        marker.write_text("the saved model ran code")
        return x

    inputs = keras.Input((2, FeatureConfig().frames_per_step, 128, 1))
    evil = keras.Model(inputs, keras.layers.Lambda(payload)(keras.layers.Dense(1)(inputs)))
    folder = tmp_path / "gunshot_evil"
    shutil.copytree(detector_folder, folder)
    (folder / "model.keras").unlink()
    evil.save(folder / "model.keras")
    marker.unlink()
    with pytest.raises(CacheError, match="model.keras") as caught:
        load_detector(folder)
    assert "safe" in str(caught.value).lower() or "lambda" in str(caught.value).lower()
    _write(tmp_path / "x.wav", _tone(1.0))  # a good recording: the model is what fails
    assert cli_main(["detect", str(tmp_path / "x.wav"), "--models", str(folder)]) == 2
    assert "model.keras" in capsys.readouterr().err
    assert not marker.exists()
    # Garbage in place of the model, and a description of another format version.
    (folder / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CacheError, match="cannot load model"):
        load_detector(folder)
    shutil.copy2(detector_folder / "model.keras", folder / "model.keras")
    description = json.loads((folder / "detector.json").read_text())
    (folder / "detector.json").write_text(json.dumps({**description, "format_version": 99}))
    with pytest.raises(CacheError, match="detector format 99"):
        load_detector(folder)
    keras.backend.clear_session()


# ----------------------------------------------------------------------------------------------
# Feature caches of another version


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    from rsed.config import MiniDataConfig, MixtureConfig
    from rsed.data.mini import generate_mini
    from rsed.data.mixing import synthesize

    root = generate_mini(tmp_path_factory.mktemp("mini"), MiniDataConfig(events_per_class_per_split=3, bgs_per_scene_per_split=1, background_seconds=10.0), progress=False)
    return synthesize(root, "devtest", "devtest", MixtureConfig(mixtures_per_class=3, length_seconds=3.0), classes=["gunshot"], progress=False)[0]


def test_cache_of_another_version_is_named_refused_and_rebuilt(small_set, tmp_path, caplog):
    path = build_cache(small_set, FeatureConfig(), tmp_path, workers=1, progress=False)
    expected = [c.logmel for c in read_cache(path)]
    with h5py.File(path, "r+") as handle:
        handle.attrs["format_version"] = CACHE_FORMAT_VERSION + 1
    with pytest.raises(CacheError, match=f"format version {CACHE_FORMAT_VERSION + 1}") as caught:
        read_cache(path)
    assert caught.value.path == path and "rebuild" in str(caught.value)
    with caplog.at_level(logging.INFO, logger="rsed.features"):
        build_cache(small_set, FeatureConfig(), tmp_path, workers=1, progress=False)
    assert path.name in caplog.text and "format version" in caplog.text  # the rebuild says why
    for clip, logmel in zip(read_cache(path), expected, strict=True):
        np.testing.assert_array_equal(clip.logmel, logmel)


# ----------------------------------------------------------------------------------------------
# Event lists


@pytest.mark.parametrize(
    "text, reason",
    [
        ("a.wav,1.0,2.0,gunshot\n", "comma-separated"),
        ("a.wav\t1.0\t2.0\n", "expected 'filename'"),
        ("a.wav\tone\t2.0\tgunshot\n", "must be numbers"),
        ("a.wav\t2.0\t1.0\tgunshot\n", "0 <= onset < offset"),
        ("a.wav\tnan\t1.0\tgunshot\n", "0 <= onset < offset"),
        ("../../etc/passwd\n", "outside the audio folder"),
        ("/etc/passwd\t0\t1\tgunshot\n", "outside the audio folder"),
        ("a\x00.wav\n", "control characters"),
    ],
)
def test_malformed_event_list_names_the_line(tmp_path, text, reason):
    path = tmp_path / "event_list_devtest_gunshot.csv"
    path.write_text("ok.wav\n" + text)
    with pytest.raises(DataError, match=reason) as caught:
        read_event_list(path)
    assert caught.value.path == path and "line 2" in str(caught.value)


def test_event_list_with_bom_and_crlf_reads_normally(tmp_path):
    path = tmp_path / "event_list.csv"
    path.write_bytes("\ufeffa.wav\t1.5\t2.5\tgunshot\r\nb.wav\r\n".encode("utf-8"))
    events = read_event_list(path)
    assert [(e.filename, e.onset, e.label) for e in events] == [("a.wav", 1.5, "gunshot"), ("b.wav", None, None)]
    path.write_bytes(b"\xff\xfea\x00.\x00w\x00")  # UTF-16
    with pytest.raises(DataError, match="not UTF-8"):
        read_event_list(path)


# ----------------------------------------------------------------------------------------------
# Archives that try to escape the extraction folder


def _zip(path: Path, members: list[tuple[str, int | None]]) -> Path:
    """A zip of ``(name, unix mode or None)`` members; many harmless files come first."""
    with zipfile.ZipFile(path, "w") as z:
        for i in range(20):
            z.writestr(f"top/audio/ok_{i:02d}.wav", b"fine")
        for name, mode in members:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            z.writestr(info, b"payload")
    return path


@pytest.mark.parametrize(
    "members, reason",
    [
        ([("top/../../escaped.txt", None)], "'..'"),
        ([("/tmp/escaped.txt", None)], "absolute"),
        ([("top/link", stat.S_IFLNK | 0o777)], "symbolic link"),
        ([("top/dir_link/", stat.S_IFLNK | 0o777)], "symbolic link"),
        ([("top/fifo", stat.S_IFIFO | 0o644)], "not a regular file"),
        ([("top/dev", stat.S_IFCHR | 0o644)], "not a regular file"),
        ([("top/audio/ok_03.wav", None)], "appears twice"),
        ([("top/audio/ok_03.wav/inner.txt", None)], "both a file and a folder"),
        ([("top\\..\\escaped.txt", None)], "backslash"),
    ],
)
def test_malicious_archive_is_refused_before_anything_is_written(tmp_path, members, reason):
    archive = _zip(tmp_path / "evil.zip", members)
    target, markers = tmp_path / "out", tmp_path / "markers"
    with pytest.raises(DataError, match=reason) as caught:
        archives.extract(archive, target, markers, progress=False)
    assert caught.value.path == archive and "refusing to extract" in str(caught.value)
    assert not target.exists() and not markers.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.zip"]


def test_archive_with_an_encrypted_member_is_refused(tmp_path):
    archive = _zip(tmp_path / "locked.zip", [])
    data = bytearray(archive.read_bytes())
    # Set the 'encrypted' flag (bit 0 of the flags at offset 8) of the fourth central-directory entry.
    central = [i for i in range(len(data)) if data[i : i + 4] == b"PK\x01\x02"][3]
    data[central + 8] |= 0x01
    archive.write_bytes(bytes(data))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        assert z.infolist()[3].flag_bits & 0x1
    with pytest.raises(DataError, match="encrypted") as caught:
        archives.extract(archive, tmp_path / "out", tmp_path / "markers", progress=False)
    assert "ok_03.wav" in str(caught.value) and not (tmp_path / "out").exists()
