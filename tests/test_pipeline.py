"""A small end-to-end run: mini sources -> mixtures -> features -> CRNN -> detection -> sed_eval -> Table 4.

Tiny sizes (10 s mixtures, a narrow CRNN, two short epochs) so it runs in about a minute; it
checks that every stage produces what the next one reads, that a second run retrains nothing,
and that ``rsed detect`` agrees with the pipeline's own event list. Then the other rows of
Tables 2-4 (a single-tau row, an ensemble row, the CNN and the FNN) run into the same folder,
sharing its models, and a rerun of every row retrains nothing; a different configuration is
refused.
"""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from rsed.cli import main as cli_main
from rsed.config import ONSET_RULES, BaselineTrainConfig, FeatureConfig, MiniDataConfig, MixtureConfig, ModelConfig, TrainConfig, paper_postprocess
from rsed.data.layout import read_event_list
from rsed.data.mini import generate_mini
from rsed.data.mixing import synthesize
from rsed.errors import RsedError
from rsed.evaluation.analysis import open_run
from rsed.evaluation.lookback import LookbackTrial, best_trial
from rsed.inference.postprocessing import detect_all
from rsed.models.detector import load_detector
from rsed.run.pipeline import run, run_rows
from rsed.run.rows import Experiment

TINY_MODEL = ModelConfig(conv_filters=4, spectral_filters=4, rnn_units=8, dense_units=8)
TINY_TRAIN = TrainConfig(min_epochs=1, max_epochs=2, patience=1, steps_per_epoch=3, batch_size=16, schedule="short")
TINY_BASELINE = BaselineTrainConfig(initial_delay=0, max_epochs=2, patience=0, schedule="short")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    generate_mini(root, MiniDataConfig(events_per_class_per_split=3, bgs_per_scene_per_split=1, background_seconds=10.0), progress=False)
    for subset, split, n, seed in (("train", "devtrain", 6, 4242), ("devtrain", "devtrain", 4, 42), ("devtest", "devtest", 4, 42)):
        synthesize(root, subset, split, MixtureConfig(seed=seed, mixtures_per_class=n, length_seconds=10.0), classes=["glassbreak", "gunshot"], progress=False)
    return root


@pytest.fixture(scope="module")
def experiment():
    return Experiment(timesteps=(("glassbreak", (3,)), ("gunshot", (2, 3))), model=TINY_MODEL, training=TINY_TRAIN, baseline_training=TINY_BASELINE)


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
    # The mini data: our subsets named, the paper's numbers beside them, never subtracted.
    assert "| ER Model | Glassb. devtest | Guns. devtest | Average devtrain (val.) | Average devtest | Paper Glassb. test | Paper Guns. test |" in table
    assert "short schedule" in table and "(+" not in table and "(-" not in table
    record = json.loads((out / "results" / "rows" / "crnn.json").read_text())
    assert record["data"] == "mini" and record["subsets"] == {"dev": "devtest", "test": "devtest", "validation": "devtrain"}
    member = record["per_class"]["gunshot"]["members"]["t2"]
    assert member["steps_per_epoch"] == 3 and member["updates"] == 3 * member["epochs"]
    assert json.loads((out / "models" / "gunshot_crnn_t2" / "training.json").read_text())["updates"] == member["updates"]
    folders = sorted(p.name for p in (out / "models").iterdir())
    assert folders == ["glassbreak_crnn_t3", "gunshot_crnn_t2", "gunshot_crnn_t3"]
    model, spec = load_detector(out / "models" / "gunshot_crnn_t2")
    assert spec.timesteps == 2 and model.input_shape == (None, 2, FeatureConfig().frames_per_step, 128, 1)
    assert (out / "models" / "gunshot_crnn_t2" / "train_log.csv").read_text().count("\n") == 3  # header + 2 epochs


def test_predictions_cover_every_step_and_estimates_follow_them(finished_run, data_root, experiment):
    _, out = finished_run
    with np.load(out / "predictions" / "devtest" / "gunshot_crnn_t2+t3.npz") as data:
        names = [n for n in data.files if n != "__key__"]
        assert len(names) == 4
        steps = int(10.0 * 44100 / FeatureConfig().hop_length + 1) // FeatureConfig().frames_per_step
        assert all(data[n].shape == (steps,) and np.all((data[n] >= 0) & (data[n] <= 1)) for n in names)
        peaks = {n: float(data[n].max()) for n in names}
    estimates = read_event_list(out / "estimates" / "devtest" / "gunshot_crnn_t2+t3.csv")
    assert {e.filename for e in estimates} == {n for n, p in peaks.items() if p > 0.5}


def test_lookback_is_chosen_on_validation_and_applied_to_devtest(finished_run, experiment):
    """Each class's look-back is the best of the grid on devtrain's saved predictions; devtest's events use it."""
    _, out = finished_run
    record = json.loads((out / "results" / "rows" / "crnn.json").read_text())
    for cls, stem in (("glassbreak", "glassbreak_crnn_t3"), ("gunshot", "gunshot_crnn_t2+t3")):
        post = record["per_class"][cls]["postprocess"]
        assert post["chosen_on"] == "devtrain"
        trials = [LookbackTrial(**t) for t in post["trials"]]
        assert [(t.onset_rule, t.lookback_seconds) for t in trials] == [(r, lb) for r in ONSET_RULES for lb in sorted(experiment.lookback_grid)]
        assert (post["onset_rule"], post["lookback_seconds"]) == (best_trial(trials).onset_rule, best_trial(trials).lookback_seconds)
        probs = {}
        for subset in ("devtrain", "devtest"):
            with np.load(out / "predictions" / subset / f"{stem}.npz") as data:
                probs[subset] = {n: data[n] for n in data.files if n != "__key__"}
        config = dataclasses.replace(paper_postprocess(cls), lookback_seconds=post["lookback_seconds"], onset_rule=post["onset_rule"])
        expected = detect_all(probs["devtest"], cls, config, experiment.features.step_seconds)
        written = read_event_list(out / "estimates" / "devtest" / f"{stem}.csv")
        assert [(e.filename, e.onset) for e in written] == [(e.filename, e.onset) for e in expected]
    chosen = record["per_class"]["gunshot"]["postprocess"]
    assert open_run(out).postprocess("gunshot") == dataclasses.replace(paper_postprocess("gunshot"), lookback_seconds=chosen["lookback_seconds"], onset_rule=chosen["onset_rule"])


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


# --------------------------------------------------------------------------------------
# The other rows of Tables 2-4 in the same run folder
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_rows(finished_run, experiment):
    """A Table 3 row and a Table 2 row reusing the CRNN's gunshot models, then a CNN and the FNN (gunshot only)."""
    gun = (("gunshot", (2, 3)),)
    return [
        dataclasses.replace(experiment, name="CRNN gunshot t2", row="crnn_gunshot_t2", table="3", classes=("gunshot",), timesteps=(("gunshot", (2,)),)),
        dataclasses.replace(experiment, name="CRNN gunshot ensemble", row="ensemble_gunshot", table="2", classes=("gunshot",), timesteps=gun),
        dataclasses.replace(experiment, name="CNN", row="cnn", architecture="cnn", classes=("gunshot",), timesteps=(("gunshot", (2,)),)),
        dataclasses.replace(experiment, name="FNN", row="fnn", architecture="fnn", classes=("gunshot",)),
    ]


@pytest.fixture(scope="module")
def all_rows_run(finished_run, other_rows, data_root):
    _, out = finished_run
    return run_rows(data_root, out, other_rows, workers=1), out


def test_rows_share_models_and_fill_tables_2_to_4(all_rows_run):
    results, out = all_rows_run
    records = {r["row"]: r for r in (json.loads(p.read_text()) for p in (out / "results" / "rows").glob("*.json"))}
    assert set(records) == {"crnn", "crnn_gunshot_t2", "ensemble_gunshot", "cnn", "fnn"}
    # The Table 2 and 3 rows trained nothing: they reused the CRNN row's detectors.
    assert all(m["reused"] for row in ("crnn_gunshot_t2", "ensemble_gunshot") for m in records[row]["per_class"]["gunshot"]["members"].values())
    assert not records["cnn"]["per_class"]["gunshot"]["members"]["t2"]["reused"]
    assert (out / "models" / "cnn" / "gunshot_cnn_t2" / "model.keras").is_file()
    assert (out / "models" / "fnn" / "gunshot_fnn" / "baseline.json").is_file()
    # The ensemble row's score and the CRNN row's gunshot score are the same computation.
    assert records["ensemble_gunshot"]["per_class"]["gunshot"]["scores"] == records["crnn"]["per_class"]["gunshot"]["scores"]
    table2 = (out / "results" / "table2.md").read_text()
    assert "| Gunshot | (t2 + t3)/2 | (t3 + t5)/2 | t2 |" in table2 and "| ensemble |" in table2
    table4 = (out / "results" / "table4.md").read_text()
    assert [line.split("|")[1].strip() for line in table4.splitlines() if line.startswith("| ") and "Model" not in line] == ["CRNN", "CNN", "FNN"]
    assert "| N_r | 2 | 2 |" in (out / "results" / "table3.md").read_text()
    record = json.loads((out / "results" / "run_record.json").read_text())
    assert record["rows"]["cnn"]["models"]["gunshot/t2"]["structure"]["n_recurrent"] == 0


def test_ensemble_file_is_the_mean_of_its_members(all_rows_run):
    _, out = all_rows_run
    pred = out / "predictions" / "devtest"
    with np.load(pred / "gunshot_crnn_t2.npz") as a, np.load(pred / "gunshot_crnn_t3.npz") as b, np.load(pred / "gunshot_crnn_t2+t3.npz") as ens:
        names = [n for n in ens.files if n != "__key__"]
        assert names and sorted(names) == sorted(n for n in a.files if n != "__key__")
        for n in names:
            np.testing.assert_allclose(ens[n], (a[n] + b[n]) / 2)


def test_fnn_row_frames_and_events(all_rows_run, experiment):
    from rsed.inference.baseline import baseline_events

    _, out = all_rows_run
    estimates = read_event_list(out / "estimates" / "devtest" / "gunshot_fnn.csv")
    with np.load(out / "predictions" / "devtest" / "gunshot_fnn.npz") as data:
        names = [n for n in data.files if n != "__key__"]
        assert len(names) == 4 and all(data[n].shape == (1 + 441000 // 882,) for n in names)  # one probability per 20 ms frame
        expected = sorted((n, round(a, 4)) for n in names for a, _ in baseline_events(data[n], 0.02, experiment.baseline_postprocess))
    assert sorted((e.filename, e.onset) for e in estimates if e.has_event) == expected


def test_detect_reads_only_the_crnn_detectors(all_rows_run):
    from rsed.inference.detect import load_detectors

    _, out = all_rows_run
    grouped = load_detectors(out / "models")
    assert {c: sorted(e.timesteps) for c, e in grouped.items()} == {"glassbreak": [3], "gunshot": [2, 3]}
    assert all(e.architecture == "crnn" and all(s.architecture == "crnn" for s in e.specs) for e in grouped.values())


def test_rerunning_every_row_retrains_nothing(all_rows_run, other_rows, experiment, data_root):
    results, out = all_rows_run
    models = sorted(p for p in (out / "models").rglob("*") if p.name == "model.keras")
    assert len(models) == 5  # three CRNNs, a CNN and the FNN
    # a finished detector keeps no training leftovers (snapshots, best weights) and is still reused
    assert not [p for p in (out / "models").rglob("*") if p.name in ("backup", "best.weights.h5")]
    before = {p: p.stat().st_mtime_ns for p in models}
    again = run_rows(data_root, out, [experiment, *other_rows], workers=1)
    assert {p: p.stat().st_mtime_ns for p in models} == before

    def counts(rs):
        return [{sub: {c: (x.error_rate, x.deletions, x.insertions) for c, x in d.items()} for sub, d in r.scores.items()} for r in rs]

    assert counts(again[1:]) == counts(results)  # the same predictions, so the same scores
    records = [json.loads(p.read_text()) for p in (out / "results" / "rows").glob("*.json")]
    assert all(m["reused"] for r in records for c in r["per_class"].values() for m in c["members"].values())


def test_another_configuration_is_refused_and_nothing_changes(all_rows_run, experiment, data_root, capsys):
    _, out = all_rows_run
    results = out / "results"
    before = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    longer = dataclasses.replace(experiment, training=dataclasses.replace(TINY_TRAIN, max_epochs=3))
    with pytest.raises(RsedError, match="another configuration.*max_epochs: 2 here, 3 now.*--overwrite"):
        run(data_root, out, longer, workers=1)
    assert cli_main(["reproduce", "--root", str(data_root), "--out", str(out), "--schedule", "short", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "another configuration" in err and "--overwrite" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in results.rglob("*") if p.is_file()} == before
