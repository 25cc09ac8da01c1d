"""``rsed detect`` on any recording, checked against what the pipeline wrote for the same clips.

A tiny run over the mini data (``fixtures_run.py``) provides the detectors, the per-step
probabilities and the event list of every devtest clip; the recordings here are those clips
resampled, down-mixed, re-encoded, embedded in two minutes of audio, or cut to 0.2 s. The
ensemble and decision-setting rules are checked on detector descriptions without models.
(``test_detect_tools.py``: portability, formats, streaming, plots, scoring, the command line.)
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from fixtures_run import CLASSES, CLIP_SECONDS, tiny_run  # tests/ is on sys.path (pytest's rootdir-relative import)
from rsed.cli import main as cli_main
from rsed.config import FeatureConfig, paper_postprocess
from rsed.errors import CacheError
from rsed.evaluation import analysis
from rsed.evaluation.plots import figure_pixels
from rsed.inference.detect import DetectionRow, choose_ensembles, dcase_lines, file_probabilities, load_detectors

CLASS = CLASSES[0]
SR = FeatureConfig().sample_rate
STEP_SAMPLES = FeatureConfig().hop_length * FeatureConfig().frames_per_step


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root, out = tiny_run(tmp_path_factory.getbasetemp())
    run = analysis.open_run(out)
    audio = {p.name: p for p in sorted((root / "data" / "mixture_data" / "devtest").glob(f"*/audio/mixture_devtest_{CLASS}_*.wav"))}
    return {
        "root": root,
        "run": run,
        "models": out / "models",
        "audio": audio,
        "probs": analysis.load_probabilities(run, "devtest", CLASS),
        "estimates": {e.filename: e for e in analysis.load_estimates(run, "devtest", CLASS)},
    }


@pytest.fixture(scope="module")
def ensembles(tiny):
    return load_detectors(tiny["models"])


@pytest.fixture(scope="module")
def recordings(tiny, tmp_path_factory):
    """The test recordings made from the devtest clips; ``long_prefix_steps`` places the first clip in the long one."""
    import librosa

    folder = tmp_path_factory.mktemp("recordings")
    names = sorted(tiny["audio"])
    clips = {n: sf.read(tiny["audio"][n], dtype="float32")[0] for n in names}
    made = {}

    robust = _robust_clip(tiny)
    y48 = librosa.resample(clips[robust], orig_sr=SR, target_sr=48000, res_type="soxr_hq")
    made["stereo48k"] = folder / "stereo48k.wav"
    sf.write(made["stereo48k"], np.stack([1.5 * y48, 0.5 * y48], axis=1), 48000, subtype="PCM_24")  # the mean is the clip

    others = np.concatenate([clips[n] for n in names[1:]])
    prefix_steps = (40 * SR) // STEP_SAMPLES  # whole steps, so the clip's frames line up with the long file's
    prefix = np.resize(others, prefix_steps * STEP_SAMPLES)
    suffix = np.resize(others[::-1], 120 * SR - prefix.size - clips[names[0]].size)
    made["two_minutes"] = folder / "two_minutes.wav"
    sf.write(made["two_minutes"], np.concatenate([prefix, clips[names[0]], suffix]), SR, subtype="PCM_24")

    made["short"] = folder / "short.wav"
    sf.write(made["short"], clips[names[0]][: int(0.2 * SR)], SR, subtype="PCM_24")
    made["blip"] = folder / "blip.wav"
    sf.write(made["blip"], clips[names[0]][: int(0.05 * SR)], SR, subtype="PCM_24")
    made["not_audio"] = folder / "noise.wav"
    made["not_audio"].write_bytes(b"not audio at all" * 64)
    made["missing"] = folder / "missing.flac"
    return {"paths": made, "robust": robust, "first": names[0], "long_prefix_steps": prefix_steps}


@pytest.fixture(scope="module")
def dcase_run(tiny, recordings, tmp_path_factory):
    """One ``rsed detect`` call over every devtest clip and the good test recordings, plotting each."""
    import contextlib
    import io

    plots = tmp_path_factory.mktemp("plots")
    made = recordings["paths"]
    files = [tiny["audio"][n] for n in sorted(tiny["audio"])] + [made["stereo48k"], made["two_minutes"], made["short"]]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(["detect", *map(str, files), "--models", str(tiny["models"]), "--plot", str(plots)])
    return {"code": code, "out": out.getvalue(), "err": err.getvalue(), "files": files, "plots": plots}


def _detect(capsys, *args) -> tuple[int, str, str]:
    code = cli_main(["detect", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _parse_dcase(text: str) -> dict[str, list[tuple[float, float, str]]]:
    """``{file: [(onset, offset, label), ...]}`` from DCASE lines (a bare file name: no event)."""
    events: dict[str, list] = {}
    for line in text.strip().splitlines():
        fields = line.split("\t")
        assert len(fields) in (1, 4), line
        events.setdefault(fields[0], [])
        if len(fields) == 4:
            events[fields[0]].append((float(fields[1]), float(fields[2]), fields[3]))
    return events


def _robust_clip(tiny) -> str:
    """The clip whose saved decision is least sensitive to small changes: a clear single peak far from t1."""
    t1 = tiny["run"].postprocess(CLASS).presence_threshold

    def margin(name):
        p = tiny["probs"][name]
        peak = int(np.argmax(p))
        rest = np.delete(p, np.arange(max(0, peak - 1), min(p.size, peak + 2)))
        return min(p[peak] - rest.max(), abs(p[peak] - t1))

    return max(sorted(tiny["probs"]), key=margin)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_ensemble_is_the_one_the_run_scored(tiny, ensembles):
    assert set(ensembles) == {CLASS}
    ens = ensembles[CLASS]
    assert ens.architecture == "crnn" and ens.timesteps == tiny["run"].timesteps(CLASS) == (2, 3)
    assert (ens.postprocess.presence_threshold, ens.postprocess.onset_threshold) == (0.5, 0.5)
    # the decision settings the run chose on validation, read from the detectors' own detector.json
    assert ens.postprocess == tiny["run"].postprocess(CLASS) and ens.settings == "recorded"
    assert ens.clip_seconds == CLIP_SECONDS


def test_dcase_output_equals_the_pipeline_event_list(tiny, ensembles, dcase_run):
    assert dcase_run["code"] == 0, dcase_run["err"]
    printed = _parse_dcase(dcase_run["out"])
    assert list(printed) == [str(f) for f in dcase_run["files"]]  # every file, in order
    for name, path in tiny["audio"].items():
        events, expected = printed[str(path)], tiny["estimates"].get(name)
        if expected is None:
            assert events == []
        else:
            ((onset, offset, label),) = events
            assert label == CLASS
            assert onset == pytest.approx(expected.onset, abs=1e-3) and offset == pytest.approx(expected.offset, abs=1e-3)
    for name in sorted(tiny["audio"])[:2]:  # and the probabilities behind them are the saved ones
        np.testing.assert_allclose(file_probabilities(tiny["audio"][name], ensembles).probabilities[CLASS], tiny["probs"][name], atol=1e-6)


def test_48khz_stereo_is_resampled_and_downmixed(tiny, ensembles, recordings, dcase_run):
    stereo, name = recordings["paths"]["stereo48k"], recordings["robust"]
    assert sf.info(stereo).channels == 2 and sf.info(stereo).samplerate == 48000
    probs, saved = file_probabilities(stereo, ensembles).probabilities[CLASS], tiny["probs"][name]
    assert probs.shape == saved.shape
    assert np.corrcoef(probs, saved)[0, 1] > 0.98  # the same curve; shifted by 3 steps it correlates far less
    assert int(np.argmax(probs)) == int(np.argmax(saved))
    events, expected = _parse_dcase(dcase_run["out"])[str(stereo)], tiny["estimates"].get(name)
    assert len(events) == (0 if expected is None else 1)
    if expected is not None:
        assert events[0][0] == pytest.approx(expected.onset, abs=FeatureConfig().step_seconds + 1e-3)


def test_flac_ogg_and_mp3(tiny, ensembles, tmp_path):
    name = sorted(tiny["audio"])[0]
    y, rate = sf.read(tiny["audio"][name], dtype="float32")
    saved = tiny["probs"][name]
    formats = [("FLAC", "PCM_24", "flac", True), ("OGG", "VORBIS", "ogg", False)]
    if "MP3" in sf.available_formats():  # libsndfile >= 1.1
        formats.append(("MP3", "MPEG_LAYER_III", "mp3", False))
    for fmt, subtype, ext, lossless in formats:
        path = tmp_path / f"clip.{ext}"
        sf.write(path, y, rate, format=fmt, subtype=subtype)
        probs = file_probabilities(path, ensembles).probabilities[CLASS]
        assert probs.shape == saved.shape, fmt
        if lossless:  # the very same samples
            np.testing.assert_allclose(probs, saved, atol=1e-6)
        else:  # lossy (nothing above ~16 kHz, encoder delay): read, and close
            assert np.all((probs >= 0) & (probs <= 1)) and np.abs(probs - saved).max() < 0.1, fmt


def test_two_minute_file_is_processed_whole(tiny, ensembles, recordings, dcase_run, capsys):
    path, first, k = recordings["paths"]["two_minutes"], recordings["first"], recordings["long_prefix_steps"]
    result = file_probabilities(path, ensembles)
    probs, saved = result.probabilities[CLASS], tiny["probs"][first]
    assert result.duration == pytest.approx(120.0)
    assert probs.size == (1 + 120 * SR // FeatureConfig().hop_length) // FeatureConfig().frames_per_step
    edge = max(ensembles[CLASS].timesteps) + 1  # windows touching the clip's edges see other audio
    np.testing.assert_allclose(probs[k + edge : k + saved.size - edge], saved[edge:-edge], atol=1e-5)

    # By default in overlapping segments of the training clips' length (10 s here): the events
    # lie in the file, each once (no two onsets within the collar)
    events = _parse_dcase(dcase_run["out"])[str(path)]
    assert all(0 <= onset < offset <= 120.0 for onset, offset, _ in events)
    onsets = sorted(onset for onset, _, _ in events)
    assert all(b - a > 0.5 for a, b in zip(onsets, onsets[1:], strict=False))
    assert "longer than the detectors' training clips" in dcase_run["err"] and "--whole-file" in dcase_run["err"]

    code, out, err = _detect(capsys, path, "--models", tiny["models"], "--whole-file")
    assert code == 0, err
    assert len(_parse_dcase(out)[str(path)]) <= 1  # the paper's rule on the whole file: at most one event

    code, out, err = _detect(capsys, path, recordings["paths"]["short"], "--models", tiny["models"], "--json", "--segment-seconds", "30")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]  # one JSON object per line, streamed
    assert {r["file"] for r in rows} == {str(path), str(recordings["paths"]["short"])}
    assert all(r["timesteps"] == [2, 3] and r["architecture"] == "crnn" and r["t1"] == 0.5 for r in rows)
    span = round(30 / FeatureConfig().step_seconds) * FeatureConfig().step_seconds
    segments = [int(r["onset"] // span) for r in rows if r["file"] == str(path) and r["onset"] is not None]
    assert len(segments) == len(set(segments)) and set(segments) <= {0, 1, 2, 3}  # at most one event per segment
    assert all(r["segment_seconds"] == 30 for r in rows if r["file"] == str(path))


def test_very_short_files(tiny, recordings, dcase_run, capsys):
    made = recordings["paths"]
    events = _parse_dcase(dcase_run["out"])[str(made["short"])]  # 0.2 s: two steps, shorter than a window
    assert len(events) <= 1 and all(0 <= onset < offset <= 0.2 for onset, offset, _ in events)

    code, out, err = _detect(capsys, made["blip"], made["not_audio"], made["missing"], made["short"], "--models", tiny["models"])
    assert code == 2
    assert "Traceback" not in err
    for bad, reason in ((made["blip"], "too short"), (made["not_audio"], "not a readable audio file"), (made["missing"], "not found")):
        assert any(str(bad) in line and reason in line for line in err.splitlines()), (bad, err)
    assert "3 of 4 file(s) could not be processed" in err
    assert list(_parse_dcase(out)) == [str(made["short"])]  # the good file is still reported


def test_plots_are_pngs_of_the_expected_size(tiny, dcase_run, capsys, tmp_path):
    import matplotlib.image

    expected = figure_pixels(len(CLASSES))
    pngs = sorted(dcase_run["plots"].iterdir())
    assert [p.name for p in pngs] == sorted(f"{Path(f).stem}.png" for f in dcase_run["files"])
    assert all(_png_size(p) == expected for p in pngs)
    assert matplotlib.image.imread(pngs[0]).shape[:2] == expected[::-1]  # it decodes

    one = tmp_path / "figure4.png"
    code, _, err = _detect(capsys, dcase_run["files"][0], "--models", tiny["models"], "--plot", one)
    assert code == 0, err
    assert _png_size(one) == expected


def _fake_detector(src: Path, dst: Path, **changes) -> None:
    """A copy of a detector folder whose description says something else (selection reads only descriptions)."""
    shutil.copytree(src, dst)
    spec = json.loads((dst / "detector.json").read_text())
    for key, value in changes.items():
        if key == "timesteps":
            spec["model"]["timesteps"] = value
        elif key == "schedule":
            spec["training"]["schedule"] = value
        else:
            spec[key] = value
    (dst / "detector.json").write_text(json.dumps(spec))


def _members(models, **kwargs) -> dict[str, tuple[str, list[int]]]:
    """``{class: (architecture, [timesteps, ...])}`` that :func:`choose_ensembles` picks."""
    return {c: (arch, [spec.timesteps for _, spec in entries]) for c, (arch, entries) in choose_ensembles(models, **kwargs).items()}


def test_ensemble_selection_in_a_run_folder(tiny, tmp_path):
    src = tiny["models"] / f"{CLASS}_crnn_t2"
    run = tmp_path / "run"
    shutil.copytree(tiny["models"], run / "models")  # without results/: detect reads only the detector folders
    _fake_detector(src, run / "models" / f"{CLASS}_crnn_t9", timesteps=9)
    _fake_detector(src, run / "models" / f"{CLASS}_cnn_t4", architecture="cnn", timesteps=4)
    _fake_detector(src, run / "models" / "babycry_fnn_t5", class_name="babycry", architecture="fnn", timesteps=5)
    models = run / "models"
    # the CRNN ensemble the detectors' detector.json records, not every CRNN detector in the folder
    assert _members(models, classes=[CLASS]) == {CLASS: ("crnn", [2, 3])}
    assert _members(models, classes=[CLASS], architecture="cnn") == {CLASS: ("cnn", [4])}
    assert _members(models, classes=[CLASS], timesteps=[9]) == {CLASS: ("crnn", [9])}
    assert _members(models)["babycry"] == ("fnn", [5])  # the only architecture of that class
    with pytest.raises(CacheError, match="timesteps \\[7\\]"):
        _members(models, classes=[CLASS], timesteps=[7])
    with pytest.raises(CacheError, match="no detector for class.*dog"):
        _members(models, classes=["dog"])


def test_ensemble_selection_in_a_loose_folder(tiny, tmp_path):
    src = tiny["models"] / f"{CLASS}_crnn_t2"
    loose = tmp_path / "detectors"  # not a run's models/: no record of the ensemble
    loose.mkdir()
    shutil.copytree(src, loose / f"{CLASS}_crnn_t2")
    _fake_detector(src, loose / f"{CLASS}_crnn_t9", timesteps=9)
    _fake_detector(src, loose / f"{CLASS}_cnn_t4", architecture="cnn", timesteps=4)
    assert _members(loose) == {CLASS: ("crnn", [2, 9])}  # every CRNN detector of the class
    assert _members(loose / f"{CLASS}_cnn_t4") == {CLASS: ("cnn", [4])}  # one detector folder
    _fake_detector(src, loose / f"{CLASS}_crnn_t5", timesteps=5, schedule="paper")
    with pytest.raises(CacheError, match="different settings.*--timesteps"):
        _members(loose)
    assert _members(loose, timesteps=[2, 9]) == {CLASS: ("crnn", [2, 9])}
    for name in (f"{CLASS}_crnn_t2", f"{CLASS}_crnn_t5", f"{CLASS}_crnn_t9"):
        shutil.rmtree(loose / name)
    _fake_detector(src, loose / f"{CLASS}_fnn_t1", architecture="fnn", timesteps=1)
    with pytest.raises(CacheError, match="choose one with --architecture"):
        _members(loose)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CacheError, match="no trained detector"):
        _members(empty)


def test_dcase_lines_print_an_event_free_file_once():
    rows = [
        DetectionRow("a.wav", "babycry", None, None, 0.1),
        DetectionRow("a.wav", "gunshot", None, None, 0.2),
        DetectionRow("b.wav", "babycry", 3.0, 4.0, 0.9),
        DetectionRow("b.wav", "gunshot", 1.0, 1.5, 0.9),
    ]
    assert dcase_lines(rows) == ["a.wav", "b.wav\t1.000\t1.500\tgunshot", "b.wav\t3.000\t4.000\tbabycry"]


def _spec(timesteps: int, decisions: dict, class_name: str = "gunshot", architecture: str = "crnn", recipe: str = ""):
    """A detector description recording ``{ensemble key: (rows, look-back)}`` (no model behind it)."""
    from rsed.config import ModelConfig, PostprocessConfig, TrainConfig
    from rsed.models.detector import Decision, DetectorSpec

    recorded = tuple(sorted((key, Decision(PostprocessConfig(lookback_seconds=lb), tuple(rows), "devtrain")) for key, (rows, lb) in decisions.items()))
    return DetectorSpec(class_name, architecture, ModelConfig(timesteps=timesteps), FeatureConfig(), TrainConfig(), (0.0,), (1.0,), recipe=recipe, decisions=recorded)


def test_recorded_ensembles_prefer_the_table4_row():
    from rsed.inference.detect import recorded_ensembles

    def recorded(*specs):
        return recorded_ensembles([(Path(f"d{i}"), s) for i, s in enumerate(specs)])

    # Table 3 rows of one class disagree: no recorded ensemble for it
    t5, t9 = _spec(5, {"t5": (["crnn_babycry_t5"], 1.0)}, "babycry"), _spec(9, {"t9": (["crnn_babycry_t9"], 1.0)}, "babycry")
    assert recorded(t5, t9) == {}
    assert recorded(_spec(3, {"t3": (["crnn_gunshot_t3"], 1.0)})) == {("crnn", "gunshot"): (3,)}
    # the demo row outranks them, the Table 4 row (or the recipe's) outranks the demo row
    t5 = _spec(5, {"t5": (["crnn_babycry_t5"], 1.0), "t5+t9": (["crnn_demo"], 1.0)}, "babycry")
    t9 = _spec(9, {"t9": (["crnn_babycry_t9"], 1.0), "t5+t9": (["crnn_demo"], 1.0)}, "babycry")
    assert recorded(t5, t9) == {("crnn", "babycry"): (5, 9)}
    t5 = _spec(5, {"t5": (["crnn"], 1.0), "t5+t9": (["crnn_demo"], 1.0)}, "babycry")
    assert recorded(t5, t9) == {("crnn", "babycry"): (5,)}
    plus = _spec(5, {"t5": (["crnn_plus"], 1.0), "t5+t9": (["crnn_demo"], 1.0)}, "babycry", recipe="plus")
    assert recorded(plus, t9) == {("crnn", "babycry"): (5,)}
    # an ensemble counts only when every member is present and records it
    assert recorded(_spec(3, {"t3+t5": (["crnn"], 1.0)})) == {}
    assert recorded(_spec(3, {"t3+t5": (["crnn"], 1.0)}), _spec(5, {})) == {}
    assert recorded(_spec(3, {"t3+t5": (["crnn"], 1.0)}), _spec(5, {"t3+t5": (["crnn"], 1.0)}), _spec(4, {}, architecture="cnn")) == {("crnn", "gunshot"): (3, 5)}


def test_recorded_settings_belong_to_the_recorded_ensemble():
    """The settings a row chose apply to that member set only; others get the paper's defaults, overrides say so."""
    from rsed.inference.ensembles import ensemble_settings

    t3, t5 = _spec(3, {"t3": (["crnn_gunshot_t3"], 0.75), "t3+t5": (["crnn"], 1.5)}), _spec(5, {"t3+t5": (["crnn"], 1.5)})
    assert ensemble_settings("gunshot", [t3, t5]) == (dataclasses.replace(paper_postprocess("gunshot"), lookback_seconds=1.5), "recorded")
    assert ensemble_settings("gunshot", [t3])[0].lookback_seconds == 0.75
    assert ensemble_settings("gunshot", [t5]) == (paper_postprocess("gunshot"), "paper defaults")  # t5 alone was never scored
    post, source = ensemble_settings("gunshot", [t3, t5], {"presence_threshold": 0.7, "onset_threshold": None, "lookback_seconds": 2.0})
    assert (post.presence_threshold, post.onset_threshold, post.lookback_seconds, source) == (0.7, 0.5, 2.0, "recorded + --t1 --lookback")
    with pytest.raises(CacheError, match="different decision settings"):
        ensemble_settings("gunshot", [t3, _spec(5, {"t3+t5": (["crnn"], 3.0)})])
    # every PostprocessConfig field flows through detector.json: the onset rule goes with the look-back
    from rsed.config import PostprocessConfig
    from rsed.models.detector import Decision, DetectorSpec

    rule = PostprocessConfig(lookback_seconds=0.75, onset_rule="contiguous")
    spec = dataclasses.replace(t5, decisions=(("t5", Decision(rule, ("crnn_demo",))),))
    again = DetectorSpec.from_json(json.loads(json.dumps(spec.to_json())), Path("detector.json"))
    assert again == spec and ensemble_settings("gunshot", [again]) == (rule, "recorded")
