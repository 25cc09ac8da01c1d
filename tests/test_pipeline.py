"""A small end-to-end run: mini sources -> mixtures -> features -> CRNN -> detection -> sed_eval -> Table 4.

Tiny sizes (10 s mixtures, a narrow CRNN, two short epochs) so it runs in about a minute; it
checks that every stage produces what the next one reads, that a second run retrains nothing,
and that ``rsed detect`` agrees with the pipeline's own event list.
"""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from rsed.cli import main as cli_main
from rsed.config import MiniDataConfig, MixtureConfig, ModelConfig, TrainConfig
from rsed.data.layout import read_event_list
from rsed.data.mini import generate_mini
from rsed.data.mixing import synthesize
from rsed.detector import load_detector
from rsed.reproduce import Experiment, run

TINY_MODEL = ModelConfig(conv_filters=4, spectral_filters=4, rnn_units=8, dense_units=8)
TINY_TRAIN = TrainConfig(min_epochs=1, max_epochs=2, patience=1, steps_per_epoch=3, batch_size=16, schedule="short")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    generate_mini(root, MiniDataConfig(events_per_class_per_split=3, bgs_per_scene_per_split=1, background_seconds=10.0), progress=False)
    for subset, split, n, seed in (("train", "devtrain", 6, 4242), ("devtrain", "devtrain", 4, 42), ("devtest", "devtest", 4, 42)):
        synthesize(root, subset, split, MixtureConfig(seed=seed, mixtures_per_class=n, length_seconds=10.0), classes=["glassbreak", "gunshot"], progress=False)
    return root


@pytest.fixture(scope="module")
def experiment():
    return Experiment(timesteps=(("glassbreak", (3,)), ("gunshot", (2, 3))), model=TINY_MODEL, training=TINY_TRAIN)


@pytest.fixture(scope="module")
def finished_run(data_root, experiment, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return run(data_root, out, experiment, workers=1), out


def test_run_writes_scores_tables_and_models(finished_run):
    result, out = finished_run
    assert result.classes == ["glassbreak", "gunshot"]
    scores = json.loads((out / "results" / "scores.json").read_text())
    for cls in result.classes:
        s = scores["rows"]["crnn"]["per_class"][cls]["scores"]["devtest"]
        assert s["n_files"] == 4 and s["n_reference"] == 2
        assert math.isclose(s["error_rate"], (s["substitutions"] + s["deletions"] + s["insertions"]) / s["n_reference"])
    table = (out / "results" / "table4.md").read_text()
    assert "| ER Model | Glassb. test | Guns. test | Average dev | Average test |" in table
    assert "short schedule" in table
    folders = sorted(p.name for p in (out / "models").iterdir())
    assert folders == ["glassbreak_crnn_t3", "gunshot_crnn_t2", "gunshot_crnn_t3"]
    model, spec = load_detector(out / "models" / "gunshot_crnn_t2")
    assert spec.timesteps == 2 and model.input_shape == (None, 2, 8, 128, 1)
    assert (out / "models" / "gunshot_crnn_t2" / "train_log.csv").read_text().count("\n") == 3  # header + 2 epochs


def test_predictions_cover_every_step_and_estimates_follow_them(finished_run, data_root, experiment):
    _, out = finished_run
    with np.load(out / "predictions" / "devtest" / "gunshot_crnn_t2+t3.npz") as data:
        names = [n for n in data.files if n != "__key__"]
        assert len(names) == 4
        steps = int(10.0 * 44100 / 512 + 1) // 8
        assert all(data[n].shape == (steps,) and np.all((data[n] >= 0) & (data[n] <= 1)) for n in names)
        peaks = {n: float(data[n].max()) for n in names}
    estimates = read_event_list(out / "estimates" / "devtest" / "gunshot_crnn_t2+t3.csv")
    assert {e.filename for e in estimates} == {n for n, p in peaks.items() if p > 0.5}


def test_second_run_retrains_nothing(finished_run, data_root, experiment):
    _, out = finished_run
    before = {p: p.stat().st_mtime_ns for p in (out / "models").glob("*/model.keras")}
    run(data_root, out, experiment, workers=1)
    assert {p: p.stat().st_mtime_ns for p in (out / "models").glob("*/model.keras")} == before


def test_detect_cli_agrees_with_pipeline(finished_run, data_root, capsys):
    _, out = finished_run
    audio = sorted((data_root / "data" / "mixture_data" / "devtest").glob("*/audio/mixture_devtest_glassbreak_*.wav"))
    code = cli_main(["detect", *map(str, audio), "--models", str(out / "models"), "--classes", "glassbreak"])
    assert code == 0
    printed = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    detected = {Path(row[0]).name: float(row[1]) for row in printed if len(row) == 4}
    pipeline = {e.filename: e.onset for e in read_event_list(out / "estimates" / "devtest" / "glassbreak_crnn_t3.csv")}
    assert detected.keys() == pipeline.keys()
    for name, onset in pipeline.items():
        assert detected[name] == pytest.approx(onset, abs=1e-3)


def test_bad_input_is_reported_with_the_file(tmp_path, capsys):
    assert cli_main(["reproduce", "--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "does not exist" in err and "Traceback" not in err
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"definitely not audio" * 10)
    models = tmp_path / "models"
    models.mkdir()
    assert cli_main(["detect", str(bad), "--models", str(models)]) == 2
    assert "models" in capsys.readouterr().err
