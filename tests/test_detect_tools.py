"""``rsed detect`` and trained detectors as tools (issue 19): portable detector folders, Keras
loading, file modes, quiet and fast start, long recordings, streamed output formats, plots,
``rsed score``, recipes, the command line's basics.

The tiny run of ``fixtures_run.py`` provides the detectors and clips; subprocesses check what a
user of a fresh interpreter sees (imports, stderr).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from fixtures_run import CLASSES, CLIP_SECONDS, tiny_run  # tests/ is on sys.path (pytest's rootdir-relative import)
from rsed.cli import main as cli_main
from rsed.config import FeatureConfig, ModelConfig, TrainConfig
from rsed.errors import CacheError
from rsed.fileio import current_umask
from rsed.models.detector import DetectorSpec, load_spec

CLASS = CLASSES[0]
REPO = Path(__file__).resolve().parents[1]
STEP = FeatureConfig().step_seconds


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root, out = tiny_run(tmp_path_factory.getbasetemp())
    clips = sorted((root / "data" / "mixture_data" / "devtest").glob(f"*/audio/mixture_devtest_{CLASS}_*.wav"))
    return {"root": root, "out": out, "models": out / "models", "clips": clips}


def _detect(capsys, *args) -> tuple[int, str, str]:
    code = cli_main(["detect", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _python(code: str, *args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with this checkout first on its path."""
    environ = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES")}  # as a user's shell
    environ["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    environ.update(env or {})
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=environ, timeout=timeout, cwd=REPO)


# ----------------------------------------------------------------------------------------------
# Detector folders: self-contained, portable, loadable with Keras alone, no training leftovers


def test_a_copied_detector_folder_gives_the_same_bytes(tiny, tmp_path, capsys):
    elsewhere = tmp_path / "somewhere" / "else"
    for folder in sorted(tiny["models"].glob(f"{CLASS}_crnn_t*")):
        shutil.copytree(folder, elsewhere / folder.name)
    clips = tiny["clips"][:3]
    for fmt in ("jsonl", "csv", "dcase"):
        code, here, err = _detect(capsys, *clips, "--models", tiny["models"], "--format", fmt)
        assert code == 0 and err == "", err
        code, there, err = _detect(capsys, *clips, "--models", elsewhere, "--format", fmt)
        assert code == 0 and err == "", err
        assert there.encode() == here.encode()
    rows = [json.loads(line) for line in _detect(capsys, *clips, "--models", elsewhere, "--json")[1].splitlines()]
    chosen = load_spec(elsewhere / f"{CLASS}_crnn_t2").decision("t2+t3").postprocess
    assert {(r["t1"], r["t2"], r["lookback"], r["settings"]) for r in rows} == {(chosen.presence_threshold, chosen.onset_threshold, chosen.lookback_seconds, "recorded")}


def test_detector_json_says_what_decisions_depend_on(tiny):
    spec = load_spec(tiny["models"] / f"{CLASS}_crnn_t3")
    data = json.loads((tiny["models"] / f"{CLASS}_crnn_t3" / "detector.json").read_text())
    assert data["format_version"] == 2 and data["recipe"] == "" and data["clip_seconds"] == CLIP_SECONDS
    assert spec.logit_shift != 0.0 and data["logit_shift"] == spec.logit_shift  # prior correction of the tiny schedule
    assert dict(spec.training_data)["class"] == CLASS and dict(spec.training_data)["train_subset"] == "train"
    assert dict(spec.training_data)["train_cache"].startswith(f"features_train_{CLASS}_")
    decision = data["decisions"]["t2+t3"]
    assert decision["rows"] == ["crnn"] and decision["chosen_on"] == "devtrain"
    assert set(decision["postprocess"]) == {"presence_threshold", "onset_threshold", "lookback_seconds"} | set(decision["postprocess"])


def test_format_1_detectors_still_load_with_the_paper_defaults(tiny, tmp_path, capsys):
    folder = tmp_path / "old" / f"{CLASS}_crnn_t2"
    shutil.copytree(tiny["models"] / f"{CLASS}_crnn_t2", folder)
    data = json.loads((folder / "detector.json").read_text())
    old = {k: v for k, v in data.items() if k not in ("recipe", "clip_seconds", "training_data", "decisions")}
    (folder / "detector.json").write_text(json.dumps({**old, "format_version": 1}))
    spec = load_spec(folder)
    assert (spec.recipe, spec.clip_seconds, spec.training_data, spec.decisions) == ("", None, (), ())
    code, out, err = _detect(capsys, tiny["clips"][0], tiny["clips"][1], "--models", folder.parent, "--json")
    assert code == 0, err
    assert err.count("rsed: note:") == 1 and "no decision settings recorded" in err and "look-back 3 s" in err
    assert {json.loads(line)["settings"] for line in out.splitlines()} == {"paper defaults"}
    (folder / "detector.json").write_text(json.dumps({**old, "format_version": 7}))
    with pytest.raises(CacheError, match="detector format 7, this rsed reads 1, 2"):
        load_spec(folder)


_LOAD = """
import sys
{first}
assert "tensorflow" not in sys.modules or "keras" in sys.modules
model = keras.saving.load_model(sys.argv[1])  # safe_mode=True and compile=True: the defaults
import numpy as np
x = np.zeros((2, *model.input_shape[1:]), "float32")
y = np.zeros((2, *model.output_shape[1:]), "float32")
print(json.dumps(sorted(model.evaluate(x, y, verbose=0, return_dict=True))))
"""


@pytest.mark.parametrize("first", ["import json, rsed, keras", "import json, keras, rsed"])
def test_model_keras_loads_with_keras_alone_after_import_rsed(tiny, first):
    done = _python(_LOAD.format(first=first), str(tiny["models"] / f"{CLASS}_crnn_t2" / "model.keras"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["auc", "corrected_loss", "loss"]  # the compiled metrics, rebuilt


def test_a_weighted_loss_model_loads_with_keras_alone(tmp_path):
    """A recipe's weighted training loss (rsed.models.losses.WeightedBinaryCrossentropy) is rebuilt too."""
    from rsed.training.fit import build_model, compile_detector

    model = build_model("crnn", ModelConfig(timesteps=2, conv_filters=2, spectral_filters=2, rnn_units=4, dense_units=4), 4, 16, seed=0)
    compile_detector(model, TrainConfig(pos_weight=3.0), logit_shift=-1.0)
    model.save(tmp_path / "weighted.keras")
    code = _LOAD.format(first="import json, rsed, keras") + "print(type(model.loss).__name__, model.loss.pos_weight)\n"
    done = _python(code, str(tmp_path / "weighted.keras"))
    assert done.returncode == 0, done.stderr[-3000:]
    *_, metrics, loss = done.stdout.strip().splitlines()
    assert json.loads(metrics) == ["auc", "corrected_loss", "loss"] and loss == "WeightedBinaryCrossentropy 3.0"


def test_import_rsed_imports_no_tensorflow():
    done = _python("import sys, rsed, rsed.cli, rsed.inference.detect, rsed.models.detector; print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_finished_detectors_keep_no_training_leftovers(tiny):
    for folder in tiny["models"].glob(f"{CLASS}_crnn_t*"):
        names = {p.name for p in folder.iterdir()}
        assert {"model.keras", "detector.json", "train_log.csv", "training_curves.png", "run_key.txt"} <= names
        assert not names & {"backup", "best.weights.h5", "pending_key.txt"}


def test_files_are_written_with_the_mode_the_umask_allows(tiny, tmp_path, capsys):
    umask = current_umask()
    for path in (tiny["models"] / f"{CLASS}_crnn_t2").iterdir():  # written by the run under this umask
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
    old = os.umask(0o022)
    try:
        code, _, err = _detect(capsys, tiny["clips"][0], "--models", tiny["models"], "-o", tmp_path / "out.csv", "--format", "csv",
                               "--plot", tmp_path / "fig.png", "--probabilities", tmp_path / "probs")
    finally:
        os.umask(old)
    assert code == 0, err
    for path in (tmp_path / "out.csv", tmp_path / "fig.png", *sorted((tmp_path / "probs").iterdir())):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert stat.S_IMODE((tmp_path / "probs").stat().st_mode) == 0o755


# ----------------------------------------------------------------------------------------------
# Start-up: quiet, and errors before TensorFlow


def test_a_missing_file_is_one_line_before_tensorflow(tiny):
    code = (
        "import sys\nfrom rsed.cli import main\n"
        "status = main(['detect', 'missing.wav', '--models', sys.argv[1]])\n"
        "print('tensorflow' in sys.modules)\nsys.exit(status)"
    )
    done = _python(code, str(tiny["models"]))
    assert done.returncode == 2
    assert done.stderr == "rsed: error: missing.wav: file not found\n"
    assert done.stdout.strip() == "False"  # answered before TensorFlow was imported (docs/benchmarks.md times it)
    done = _python("import runpy, sys; sys.argv = ['rsed', 'detect', 'missing.wav']; runpy.run_module('rsed', run_name='__main__')")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "--models" in done.stderr


def test_detection_prints_nothing_but_its_output(tiny):
    """No oneDNN, CUDA or absl start-up lines, no cuInit error, no tf.function retracing warnings."""
    files = [str(p) for p in tiny["clips"][:4]]
    done = _python("import sys; from rsed.cli import main; sys.exit(main(sys.argv[1:]))", "detect", *files, "--models", str(tiny["models"]))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert {line.split("\t")[0] for line in done.stdout.splitlines()} == set(files)


def test_command_line_basics(capsys):
    from rsed.version import __version__

    with pytest.raises(SystemExit) as exit_:
        cli_main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"rsed {__version__}"
    for argv, needles in (
        (["--help"], ["detect", "score", "reproduce"]),
        (["reproduce", "--help"], ["(default: paper)", "GPU work", "'short'"]),
        (["data", "synthesize", "--help"], ["(default: 500)", "(default: 42)", "(default: 30.0)", "(default: 0.5)"]),
        (["detect", "--help"], ["--whole-file", "--format", "(default: npy)", "--reference", "overlapping segments"]),
        (["score", "--help"], ["ESTIMATES", "REFERENCE", "collar"]),
    ):
        with pytest.raises(SystemExit):
            cli_main(argv)
        text = " ".join(capsys.readouterr().out.split())
        assert "``" not in text and "(default: None)" not in text
        for needle in needles:
            assert needle in text, (argv, needle)
    with pytest.raises(SystemExit) as exit_:
        cli_main(["detect", "x.wav"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and "--models" in err
    done = _python("import runpy, sys; sys.argv = ['rsed', '--version']; runpy.run_module('rsed', run_name='__main__')")
    assert done.returncode == 0 and done.stdout.strip() == f"rsed {__version__}"


# ----------------------------------------------------------------------------------------------
# Long recordings: overlapping clip-length segments, each event once


def _fake_ensemble(clip_seconds: float = 30.0):
    from rsed.config import PostprocessConfig
    from rsed.inference.detect import Ensemble

    spec = DetectorSpec("babycry", "crnn", ModelConfig(timesteps=5), FeatureConfig(), TrainConfig(), (0.0,), (1.0,), clip_seconds=clip_seconds)
    return Ensemble("babycry", "crnn", (Path("d"),), (spec,), PostprocessConfig(presence_threshold=0.8, lookback_seconds=1.0))


def _bumps(n_steps: int, onsets: list[float], seconds: float = 2.0, height: float = 0.95) -> np.ndarray:
    """Probabilities 0.1 with a plateau of ``height`` for ``seconds`` after each onset (a small peak in its middle)."""
    probs = np.full(n_steps, 0.1)
    for onset in onsets:
        first, length = int(round(onset / STEP)), int(round(seconds / STEP))
        probs[first : first + length] = height
        probs[first + length // 2] = height + 0.01
    return probs


SEVEN_ONSETS = [10.0, 29.0, 44.5, 100.0, 150.0, 224.0, 290.0]  # 29 s straddles the first segment's end, 44.5 s the second's


def test_five_minutes_with_seven_events_are_seven_events():
    from rsed.inference.detect import FileProbabilities, decide

    ensemble = _fake_ensemble()
    n = 3230  # five minutes of steps
    result = FileProbabilities(Path("long.wav"), n * STEP, np.zeros((4 * n, 8), np.float32), FeatureConfig(), {"babycry": _bumps(n, SEVEN_ONSETS)})
    rows = decide(result, {"babycry": ensemble})
    assert [round(r.onset / STEP) for r in rows] == [round(o / STEP) for o in SEVEN_ONSETS]  # each once, the onsets exact
    assert all(r.offset == pytest.approx(r.onset + round(2.0 / STEP) * STEP) for r in rows)
    assert {r.segment_seconds for r in rows} == {30.0}
    # the segment whose peak it was holds the peak (the middle of the plateau); the onset may lie before it
    assert all(r.segment[0] <= r.onset + 1.0 < r.segment[1] and r.segment[1] - r.segment[0] == pytest.approx(323 * STEP) for r in rows)
    (whole,) = decide(result, {"babycry": ensemble}, whole_file=True)  # the paper's rule: one event, the highest peak
    assert whole.segment_seconds is None and whole.onset is not None
    # consecutive 30 s segments (--segment-seconds 30): one event per segment, so the events at 30 s and 45 s
    # (one segment) are one, and the one straddling 30 s is found where its peak lies, its onset cut to 30 s
    consecutive = decide(result, {"babycry": ensemble}, 30.0)
    assert [round(r.onset / STEP) for r in consecutive] == [round(o / STEP) for o in (10.0, 30.0, 100.0, 150.0, 224.0, 290.0)]
    assert {r.segment_seconds for r in consecutive} == {30.0}
    # a recording up to one clip long is decided once, exactly as before
    short = FileProbabilities(Path("clip.wav"), 323 * STEP, np.zeros((4 * 323, 8), np.float32), FeatureConfig(), {"babycry": _bumps(323, [5.0, 20.0])})
    (row,) = decide(short, {"babycry": ensemble})
    assert (row.segment, row.segment_seconds) == (None, None) and decide(short, {"babycry": ensemble}, whole_file=True) == [row]


def test_segments_cover_the_file_and_merge_boundary_events():
    from rsed.inference.decisions import clip_segments, merge_detections
    from rsed.inference.postprocessing import Detection

    assert clip_segments(100, 323) == [(0, 100)]
    segments = clip_segments(1000, 300)
    assert segments[0] == (0, 300) and segments[-1] == (700, 1000) and all(e - s == 300 for s, e in segments)
    assert all(b[0] - a[0] <= 150 for a, b in zip(segments, segments[1:], strict=False))

    def det(onset_step, peak_step, p):
        return Detection(onset_step * STEP, (peak_step + 5) * STEP, p, onset_step, peak_step, peak_step + 5)

    found = [(det(100, 110, 0.9), (0, 300)), (det(100, 110, 0.9), (150, 450)), (det(103, 120, 0.95), (150, 450)), (det(200, 210, 0.9), (150, 450))]
    merged = merge_detections(found, STEP)
    assert [(d.onset_step, d.peak_probability, seg) for d, seg in merged] == [(103, 0.95, (150, 450)), (200, 0.9, (150, 450))]


def test_a_five_minute_48khz_recording_reports_every_event(tiny, tmp_path, capsys, monkeypatch):
    """The command line on a 5-minute 48 kHz file whose probabilities hold seven events (the model's output is replaced)."""
    import rsed.inference.sliding

    path = tmp_path / "five_minutes.wav"
    sf.write(path, 0.01 * np.random.default_rng(0).standard_normal(300 * 48000), 48000, subtype="PCM_16")
    monkeypatch.setattr(rsed.inference.sliding, "clip_probabilities", lambda members, logmel: _bumps(logmel.shape[0] // 4, SEVEN_ONSETS))
    code, out, err = _detect(capsys, path, "--models", tiny["models"])
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 7 and all(line.split("\t")[0] == str(path) and line.endswith(f"\t{CLASS}") for line in lines)
    lookback = round(load_spec(tiny["models"] / f"{CLASS}_crnn_t2").decision("t2+t3").postprocess.lookback_seconds / STEP)
    peaks = [round(o / STEP) + round(2.0 / STEP) // 2 for o in SEVEN_ONSETS]  # the plateau's middle
    assert [round(float(line.split("\t")[1]) / STEP) for line in lines] == [max(round(o / STEP), p - lookback) for o, p in zip(SEVEN_ONSETS, peaks, strict=True)]
    assert err.count("\n") == 1 and f"overlapping {CLIP_SECONDS:g} s segments" in err and "--whole-file" in err
    code, out, err = _detect(capsys, path, "--models", tiny["models"], "--whole-file")
    assert code == 0 and len(out.splitlines()) == 1 and err == ""


# ----------------------------------------------------------------------------------------------
# Output: formats, a file, streamed, probabilities, overrides


def test_formats_and_output_file(tiny, tmp_path, capsys):
    from rsed.inference.detect import CSV_COLUMNS

    clips = tiny["clips"][:3]
    code, dcase, _ = _detect(capsys, *clips, "--models", tiny["models"])
    code, jsonl, _ = _detect(capsys, *clips, "--models", tiny["models"], "--format", "jsonl")
    code, stdout, err = _detect(capsys, *clips, "--models", tiny["models"], "--format", "csv", "-o", tmp_path / "out.csv")
    assert code == 0 and stdout == "" and err == ""
    with open(tmp_path / "out.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == list(CSV_COLUMNS)
    rows = [json.loads(line) for line in jsonl.splitlines()]
    assert [(r["file"], r["onset"], r["class"]) for r in rows] == [(t["file"], float(t["onset"]) if t["onset"] else None, t["class"]) for t in table]
    events = [line.split("\t") for line in dcase.splitlines() if "\t" in line]
    assert [(e[0], float(e[1])) for e in events] == [(r["file"], round(r["onset"], 3)) for r in rows if r["onset"] is not None]
    assert _detect(capsys, clips[0], "--models", tiny["models"], "-o", tmp_path / "no" / "such" / "out.txt")[0] == 2
    code, _, err = _detect(capsys, clips[0], "--models", tiny["models"], "--json", "--format", "csv")
    assert code == 2 and "--json means --format jsonl" in err


def test_streamed_output_survives_an_interruption(tiny, tmp_path, capsys, monkeypatch):
    import rsed.inference.detect

    clips = tiny["clips"][:4]
    code, complete, _ = _detect(capsys, *clips, "--models", tiny["models"])
    real, calls = rsed.inference.detect.file_probabilities, []

    def interrupted_at_the_third(path, ensembles):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path, ensembles)

    monkeypatch.setattr(rsed.inference.detect, "file_probabilities", interrupted_at_the_third)
    code, stdout, err = _detect(capsys, *clips, "--models", tiny["models"], "-o", tmp_path / "events.txt")
    assert code == 130 and "interrupted after 2 of 4 file(s)" in err
    kept = (tmp_path / "events.txt").read_text()
    assert kept and complete.startswith(kept) and {line.split("\t")[0] for line in kept.splitlines()} == {str(c) for c in clips[:2]}


def test_probabilities_are_exported_per_file_and_class(tiny, tmp_path, capsys):
    from rsed.inference.detect import file_probabilities, load_detectors

    clip = tiny["clips"][0]
    assert _detect(capsys, clip, "--models", tiny["models"], "--probabilities", tmp_path / "npy")[0] == 0
    assert _detect(capsys, clip, "--models", tiny["models"], "--probabilities", tmp_path / "csv", "--probabilities-format", "csv")[0] == 0
    expected = file_probabilities(clip, load_detectors(tiny["models"])).probabilities[CLASS]
    np.testing.assert_array_equal(np.load(tmp_path / "npy" / f"{clip.stem}_{CLASS}.npy"), expected)
    table = np.loadtxt(tmp_path / "csv" / f"{clip.stem}_{CLASS}.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 1], expected, atol=1e-6)
    np.testing.assert_allclose(table[:, 0], np.arange(expected.size) * STEP, atol=1e-4)
    code, _, err = _detect(capsys, clip, "--models", tiny["models"], "--probabilities", tmp_path / "no" / "such")
    assert code == 2 and "does not exist" in err


def test_thresholds_can_be_overridden_and_the_output_says_so(tiny, capsys):
    clips = tiny["clips"][:3]
    code, out, err = _detect(capsys, *clips, "--models", tiny["models"], "--json", "--t1", "0.999", "--lookback", "0")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert {(r["t1"], r["lookback"], r["settings"]) for r in rows} == {(0.999, 0.0, "recorded + --t1 --lookback")}
    assert all(r["onset"] is None or r["peak_probability"] > 0.999 for r in rows)
    assert err.count("rsed: note:") == 1 and "t1 0.999" in err
    assert _detect(capsys, clips[0], "--models", tiny["models"], "--t2", "1.5")[0] == 2


def test_the_python_api(tiny):
    import rsed

    detector = rsed.load_detector(tiny["models"])
    assert detector.classes == [CLASS] and "t2+t3" in repr(detector)
    clip = tiny["clips"][0]
    rows = detector.detect(clip)
    assert [r.class_name for r in rows] == [CLASS]  # a 10 s clip is one decision: one row
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        cli_main(["detect", str(clip), "--models", str(tiny["models"]), "--json"])
    assert [json.loads(line) for line in buffer.getvalue().splitlines()] == [r.to_json() for r in rows]
    assert detector.probabilities(clip).probabilities[CLASS].ndim == 1


# ----------------------------------------------------------------------------------------------
# Plots


def test_plot_formats_and_targets(tiny, tmp_path, capsys):
    clip = tiny["clips"][0]
    for name, magic in (("fig.pdf", b"%PDF"), ("fig.svg", b"<?xml"), ("fig.png", b"\x89PNG")):
        code, _, err = _detect(capsys, clip, "--models", tiny["models"], "--plot", tmp_path / name)
        assert code == 0, err
        assert (tmp_path / name).read_bytes()[:4] == magic[:4]
    assert b"<svg" in (tmp_path / "fig.svg").read_bytes()[:500]
    for target, reason in ((tmp_path / "no" / "such" / "x.png", "does not exist"), (tmp_path / "x.jpg", "cannot tell the figure format")):
        code, out, err = _detect(capsys, clip, "--models", tiny["models"], "--plot", target)
        assert code == 2 and out == "" and len(err.splitlines()) == 1 and reason in err, err
    assert not (tmp_path / "no").exists()
    code, _, err = _detect(capsys, *tiny["clips"][:2], "--models", tiny["models"], "--plot", tmp_path / "figures", "--plot-format", "svg")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(f"{c.stem}.svg" for c in tiny["clips"][:2])


def test_the_figure_shows_onset_offset_hz_colour_bar_and_reference(tiny):
    from matplotlib.colors import to_rgba

    from rsed.data.layout import MixtureEvent
    from rsed.evaluation.plots import recording_figure
    from rsed.inference.detect import decide, file_probabilities, load_detectors

    ensembles = load_detectors(tiny["models"])
    clip = tiny["clips"][0]
    result = file_probabilities(clip, ensembles)
    rows = [dataclass_replace(r, onset=2.0, offset=3.5) for r in decide(result, ensembles)]
    reference = [MixtureEvent(clip.name, 4.0, 6.0, CLASS), MixtureEvent(clip.name, 7.0, 8.0, "babycry")]
    fig = recording_figure(result, rows, ensembles, reference=reference, note="decided in overlapping 10 s segments")
    panel, spec, colorbar = fig.axes
    assert colorbar.get_ylabel() == "dB" and spec.get_ylabel() == "frequency (Hz)"
    assert "1k" in [t.get_text() for t in spec.get_yticklabels()]

    def vlines(ax, colour):
        return sorted(round(line.get_xdata()[0], 3) for line in ax.get_lines() if to_rgba(line.get_color()) == to_rgba(colour) and line.get_xdata()[0] == line.get_xdata()[-1])

    assert vlines(panel, "tab:red") == [2.0, 3.5] and vlines(panel, "tab:green") == [4.0, 6.0]
    assert vlines(spec, "tab:green") == [4.0, 6.0, 7.0, 8.0]  # the other class's annotation on the spectrogram
    assert "10 s segments" in fig._suptitle.get_text()


def dataclass_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


# ----------------------------------------------------------------------------------------------
# rsed score


def _reference_list(tiny) -> Path:
    (path,) = (tiny["root"] / "data" / "mixture_data" / "devtest").glob(f"*/meta/event_list_devtest_{CLASS}.csv")
    return path


def _same(a, b) -> bool:
    """Equal as JSON text (NaN equals itself there: an F1 without output is NaN)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_score_equals_the_runs_own_scores(tiny, tmp_path, capsys):
    recorded = json.loads((tiny["out"] / "results" / "scores.json").read_text())["rows"]["crnn"]["per_class"][CLASS]["scores"]["devtest"]
    estimates = tiny["out"] / "estimates" / "devtest" / f"{CLASS}_crnn_t2+t3.csv"
    assert cli_main(["score", str(estimates), str(_reference_list(tiny)), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert _same(scores["classes"][CLASS], recorded)
    assert _same(scores["class_average"], {"error_rate": recorded["error_rate"], "f_measure": recorded["f_measure"]})
    assert scores["settings"]["t_collar"] == 0.5 and scores["ignored"] == {}
    assert cli_main(["score", str(estimates), str(_reference_list(tiny).parent)]) == 0
    text = capsys.readouterr().out
    assert "class average" in text and CLASS in text and "collar 0.5 s" in text
    # a folder holding two lists of one class (as a run's estimates/, each member's beside the ensemble's) is refused in one line
    folder = tmp_path / "estimates"
    folder.mkdir()
    for name in ("a.csv", "b.csv"):
        (folder / name).write_text(f"{_reference_list(tiny).read_text().split()[0]}\t1.0\t2.0\t{CLASS}\n")
    assert cli_main(["score", str(folder), str(_reference_list(tiny))]) == 2
    err = capsys.readouterr().err
    assert err == f"rsed: error: {folder / 'b.csv'}: class {CLASS} is also estimated in a.csv; pass one list per class\n"


def test_score_reads_what_detect_wrote(tiny, tmp_path, capsys):
    """rsed detect's output (paths, event-free files) scores as the run's estimates on 10 s clips (one decision each)."""
    estimates = tmp_path / "detected.txt"
    assert _detect(capsys, *tiny["clips"], "--models", tiny["models"], "-o", estimates)[0] == 0
    assert cli_main(["score", str(estimates), str(_reference_list(tiny)), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)["classes"][CLASS]
    recorded = json.loads((tiny["out"] / "results" / "scores.json").read_text())["rows"]["crnn"]["per_class"][CLASS]["scores"]["devtest"]
    # the same files, references and detections (onsets printed to 1 ms, the run's to 0.1 ms: the scores may differ at the collar's edge)
    assert (scores["n_files"], scores["n_reference"]) == (recorded["n_files"], recorded["n_reference"])
    run_events = (tiny["out"] / "estimates" / "devtest" / f"{CLASS}_crnn_t2+t3.csv").read_text().splitlines()
    assert len([line for line in estimates.read_text().splitlines() if "\t" in line]) == len([line for line in run_events if "\t" in line])
    (tmp_path / "stranger.txt").write_text("unknown.wav\t1.0\t2.0\tgunshot\n")
    assert cli_main(["score", str(tmp_path / "stranger.txt"), str(_reference_list(tiny))]) == 2
    assert "in no reference list: unknown.wav" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Recipes


def test_the_recommended_recipe_is_the_default(tiny, tmp_path):
    from rsed.inference.detect import plan_detectors

    models = tmp_path / "run" / "models"
    for folder in sorted(tiny["models"].glob(f"{CLASS}_crnn_t*")):
        shutil.copytree(folder, models / folder.name)
        plus = models / "plus" / folder.name
        shutil.copytree(folder, plus)
        data = json.loads((plus / "detector.json").read_text())
        data["decisions"] = {"t2+t3": {**data["decisions"]["t2+t3"], "rows": ["crnn_plus"]}}
        (plus / "detector.json").write_text(json.dumps({**data, "recipe": "plus"}))

    def folders(**kwargs):
        return [f.relative_to(models) for f in plan_detectors(models, **kwargs)[CLASS].folders]

    assert folders() == [Path("plus") / f"{CLASS}_crnn_t2", Path("plus") / f"{CLASS}_crnn_t3"]
    assert folders(recipe="plus") == folders()
    assert folders(recipe="paper") == [Path(f"{CLASS}_crnn_t2"), Path(f"{CLASS}_crnn_t3")]
    assert plan_detectors(models)[CLASS].settings == "recorded" and plan_detectors(models)[CLASS].recipe == "plus"
    with pytest.raises(CacheError, match="no detectors of recipe 'nope'; it has paper, plus"):
        plan_detectors(models, recipe="nope")
    shutil.rmtree(models / "plus")
    assert folders() == [Path(f"{CLASS}_crnn_t2"), Path(f"{CLASS}_crnn_t3")]
