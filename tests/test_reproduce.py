"""The run folder's rules (resume, refuse, keep stale models), the ensemble arithmetic and the rows of the paper.

Fast: no training here (tests/test_pipeline.py runs the rows end to end on tiny data).
"""

import dataclasses
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from rsed.cli import build_parser, experiments_from_args
from rsed.config import PAPER_FEATURES, PAPER_TIMESTEPS, SHORT_TRAIN, FeatureConfig
from rsed.errors import RsedError
from rsed.run.folder import _reuse_or_prepare, model_folder, open_run, row_config, run_identity
from rsed.run.predictions import ensemble_predictions
from rsed.run.rows import Experiment, experiment_for, paper_rows, rows_for

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------
# Ensembles (Table 2)
# --------------------------------------------------------------------------------------


def test_ensemble_is_the_per_step_mean_before_thresholds():
    t5 = {"a.wav": np.array([0.9, 0.6, 0.0]), "b.wav": np.array([0.1, 0.2])}
    t9 = {"a.wav": np.array([0.3, 0.6, 0.3]), "b.wav": np.array([0.3, 0.0])}
    t50 = {"a.wav": np.array([0.6, 0.9, 0.6]), "b.wav": np.array([0.2, 0.1])}
    avg = ensemble_predictions([t5, t9, t50])
    np.testing.assert_allclose(avg["a.wav"], [0.6, 0.7, 0.3])  # (t5 + t9 + t50) / 3 per step
    np.testing.assert_allclose(avg["b.wav"], [0.2, 0.1])
    # Averaging comes before the threshold: no member alone exceeds 0.8 at step 1, the mean is 0.7;
    # member a/t5 exceeds it at step 0 but the ensemble does not.
    assert avg["a.wav"].max() < 0.8 < t5["a.wav"].max()
    np.testing.assert_allclose(ensemble_predictions([t5, t9])["a.wav"], [0.6, 0.6, 0.15])
    assert ensemble_predictions([t9])["b.wav"] is not None
    with pytest.raises(ValueError):
        ensemble_predictions([t5, {"a.wav": t9["a.wav"]}])  # members on different clips
    with pytest.raises(ValueError):
        ensemble_predictions([t5, {"a.wav": np.zeros(4), "b.wav": np.zeros(2)}])  # different lengths
    with pytest.raises(ValueError):
        ensemble_predictions([])


# --------------------------------------------------------------------------------------
# The rows of the paper and their scripts
# --------------------------------------------------------------------------------------


def test_paper_rows_cover_tables_2_3_and_4():
    rows = paper_rows("paper")
    table3 = [r for r in rows.values() if r.table == "3"]
    assert sorted((r.classes[0], r.timesteps_for(r.classes[0])) for r in table3) == sorted(
        (c, (t,)) for c, taus in PAPER_TIMESTEPS.items() for t in taus
    )
    table2 = {r.classes[0]: r.timesteps_for(r.classes[0]) for r in rows.values() if r.table == "2"}
    assert table2 == {"babycry": (5, 9, 50), "glassbreak": (3,), "gunshot": (3, 5)}
    table4 = {r.name: r for r in rows.values() if r.table == "4"}
    assert set(table4) == {"CRNN", "CNN", "FNN"}
    assert [table4[n].architecture for n in ("CRNN", "CNN", "FNN")] == ["crnn", "cnn", "fnn"]
    assert table4["CNN"].timesteps == table4["CRNN"].timesteps  # same hyperparameters
    assert table4["FNN"].members("babycry") == ("fnn",)
    # One schedule's rows share one run identity, so they can share one run folder.
    short = paper_rows("short")
    assert len({json.dumps(run_identity(Path("/d"), e, None), sort_keys=True) for e in short.values()}) == 1
    assert all(e.training == SHORT_TRAIN for e in short.values())
    assert experiment_for("short").timesteps == (("babycry", (5,)), ("glassbreak", (3,)), ("gunshot", (5,)))
    assert experiment_for("paper") == rows["crnn"]


def _scripts():
    return sorted((REPO / "experiments").glob("table*.py"))


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_script_per_row_and_make_runs_them_in_order():
    rows = {**paper_rows("paper"), "crnn_natural": rows_for("paper")["crnn_natural"]}
    scripts = {_load(p).ROW: p.stem for p in _scripts()}
    assert sorted(scripts) == sorted(rows)
    for row, stem in scripts.items():
        assert stem == f"table{rows[row].table}_{row}"
    extras = {_load(p).ROW: p.stem for p in sorted((REPO / "experiments").glob("extra_*.py"))}
    assert sorted(extras) == ["crnn_plus"] and all(stem == f"extra_{row}" for row, stem in extras.items())
    makefile = (REPO / "Makefile").read_text()
    listed = re.search(r"^EXPERIMENTS := (.*?)\n\n", makefile, re.S | re.M).group(1).replace("\\", " ").split()
    # the registry's order: Table 3, Table 2, Table 4, then the ablation, then the recommended row
    assert listed == [scripts[r] for r in rows] + ["extra_crnn_plus"]


def test_the_schedules_features_and_epochs():
    paper, short = experiment_for("paper"), experiment_for("short")
    assert (paper.features.hop_length, paper.features.frames_per_step) == (512, 8)  # librosa's default hop
    assert (short.features.hop_length, short.features.frames_per_step) == (1024, 4)
    assert paper.features.step_seconds == pytest.approx(short.features.step_seconds)  # the same 92.9 ms steps
    assert short.features == FeatureConfig()  # the builders' defaults
    assert paper.training.steps_per_epoch is None and short.training.steps_per_epoch == 40  # one pass / 40 batches
    assert all(e.features == PAPER_FEATURES for e in rows_for("paper").values())


@pytest.mark.parametrize("schedule", ["short", "paper"])
def test_the_natural_sampling_ablation_shares_the_run_folder(tmp_path, schedule):
    rows = rows_for(schedule)
    natural, crnn = rows["crnn_natural"], experiment_for(schedule)
    assert natural.table == "3" and natural.recipe == "natural" and natural.timesteps == crnn.timesteps
    assert (natural.row_training.positive_fraction, natural.row_training.prior_correction) == (0.0, False)
    assert natural.training == crnn.training  # the shared settings: one run identity
    assert _identity(tmp_path, natural) == _identity(tmp_path, crnn)
    out = tmp_path / "run"
    open_run(out, _identity(tmp_path, crnn), crnn)
    open_run(out, _identity(tmp_path, natural), natural)
    assert json.loads((out / "run.json").read_text())["rows"]["crnn_natural"]["training_changes"] == {"positive_fraction": 0.0, "prior_correction": False}
    assert model_folder(out, "crnn", "gunshot", 5, natural.recipe) == out / "models" / "natural" / "gunshot_crnn_t5"
    with pytest.raises(ValueError, match="needs a recipe"):
        dataclasses.replace(natural, recipe="")
    with pytest.raises(ValueError, match="unknown TrainConfig"):
        dataclasses.replace(natural, training_changes=(("positive_fractoin", 0.0),))


def test_imbalance_and_onset_switches_apply_to_every_row_and_change_the_run(tmp_path):
    args = build_parser().parse_args(["reproduce", "--out", "x", "--schedule", "short", "--rows", "crnn_demo", "crnn_natural",
                                      "--positive-fraction", "0.5", "--no-prior-correction", "--onset-rule", "contiguous"])
    demo, natural = experiments_from_args(args)
    assert (demo.row_training.positive_fraction, demo.row_training.prior_correction) == (0.5, False)
    assert (natural.row_training.positive_fraction, natural.row_training.prior_correction) == (0.0, False)  # the ablation keeps its own
    assert demo.onset_rules == natural.onset_rules == ("contiguous",)
    default = experiments_from_args(build_parser().parse_args(["reproduce", "--out", "x", "--schedule", "short"]))[0]
    assert default.training == SHORT_TRAIN and default.onset_rules == ("earliest", "contiguous")
    out = tmp_path / "run"
    open_run(out, _identity(tmp_path, default), default)
    with pytest.raises(RsedError, match="positive_fraction: 0.3 here, 0.5 now"):
        open_run(out, _identity(tmp_path, demo), demo)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reproduce", "--out", "x", "--positive-fraction", "1.5"])
    script = _load(REPO / "experiments" / "table3_crnn_natural.py")
    assert script.ROW == "crnn_natural"
    help_text = build_parser()._subparsers._group_actions[0].choices["reproduce"].format_help()
    for option in ("--positive-fraction", "--no-prior-correction", "--onset-rule"):
        assert option in help_text


def test_scripts_report_bad_input_in_one_line(tmp_path, capsys):
    module = _load(REPO / "experiments" / "table4_fnn.py")
    assert module.main(["--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"), "--schedule", "short"]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------------------
# The run folder: resume, refuse, overwrite
# --------------------------------------------------------------------------------------


def _identity(tmp_path, experiment=Experiment()):
    return run_identity(tmp_path / "data", experiment, None)


def test_same_configuration_resumes_and_rows_accumulate(tmp_path):
    out = tmp_path / "run"
    rows = paper_rows("short")
    open_run(out, _identity(tmp_path, rows["crnn"]), rows["crnn_babycry_t5"])
    open_run(out, _identity(tmp_path, rows["crnn"]), rows["fnn"])
    open_run(out, _identity(tmp_path, rows["crnn"]), rows["crnn_babycry_t5"])  # a rerun: fine
    data = json.loads((out / "run.json").read_text())
    assert set(data["rows"]) == {"crnn_babycry_t5", "fnn"}
    assert data["config"]["schedule"] == "short" and data["config"]["root"].endswith("data")
    assert data["rows"]["fnn"] == row_config(rows["fnn"])


def test_another_configuration_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "run"
    short, paper = paper_rows("short")["crnn"], paper_rows("paper")["crnn"]
    open_run(out, _identity(tmp_path, short), short)
    (out / "results").mkdir()
    (out / "results" / "table4.md").write_text("short-schedule results")
    with pytest.raises(RsedError, match=r"another configuration .*schedule: 'short' here, 'paper' now.*--overwrite"):
        open_run(out, _identity(tmp_path, paper), paper)
    assert (out / "results" / "table4.md").read_text() == "short-schedule results"
    assert json.loads((out / "run.json").read_text())["config"]["schedule"] == "short"
    open_run(out, _identity(tmp_path, paper), paper, overwrite=True)
    assert not (out / "results").exists()  # the other run's results are gone, by request
    assert json.loads((out / "run.json").read_text())["config"]["schedule"] == "paper"


def test_a_row_redefined_under_its_name_is_refused(tmp_path):
    out = tmp_path / "run"
    row = paper_rows("short")["crnn_gunshot_t3"]
    open_run(out, _identity(tmp_path, row), row)
    changed = dataclasses.replace(row, timesteps=(("gunshot", (4,)),))
    with pytest.raises(RsedError, match="crnn_gunshot_t3.*another definition"):
        open_run(out, _identity(tmp_path, changed), changed)
    open_run(out, _identity(tmp_path, changed), changed, overwrite=True)


def test_a_foreign_folder_is_refused(tmp_path):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(RsedError, match="holds no run.json"):
        open_run(out, _identity(tmp_path), Experiment())
    open_run(out, _identity(tmp_path), Experiment(), overwrite=True)
    assert (out / "thesis.tex").read_text() == "precious"  # overwrite replaces results, nothing else


# --------------------------------------------------------------------------------------
# Detector folders: reuse, keep stale ones, clear foreign checkpoints
# --------------------------------------------------------------------------------------


def _finished(folder, key):
    folder.mkdir(parents=True)
    (folder / "model.keras").write_text("weights")
    (folder / "run_key.txt").write_text(key + "\n")
    return folder


def test_model_folders_per_architecture(tmp_path):
    assert model_folder(tmp_path, "crnn", "babycry", 5) == tmp_path / "models" / "babycry_crnn_t5"
    assert model_folder(tmp_path, "cnn", "babycry", 5) == tmp_path / "models" / "cnn" / "babycry_cnn_t5"
    assert model_folder(tmp_path, "fnn", "babycry") == tmp_path / "models" / "fnn" / "babycry_fnn"


def test_finished_detector_with_same_key_is_reused(tmp_path):
    folder = _finished(tmp_path / "m", "k1")
    assert _reuse_or_prepare(folder, "k1", True, overwrite=False) is True
    assert (folder / "model.keras").read_text() == "weights"


def test_stale_detector_is_kept_aside_not_overwritten(tmp_path):
    folder = _finished(tmp_path / "models" / "gunshot_crnn_t3", "old")
    assert _reuse_or_prepare(folder, "new", True, overwrite=False) is False
    kept = tmp_path / "models" / ".superseded" / "gunshot_crnn_t3-old"
    assert (kept / "model.keras").read_text() == "weights"
    assert not (folder / "model.keras").exists() and (folder / "pending_key.txt").read_text().strip() == "new"


def test_stale_detector_is_deleted_with_overwrite(tmp_path):
    folder = _finished(tmp_path / "models" / "x", "old")
    assert _reuse_or_prepare(folder, "new", True, overwrite=True) is False
    assert not (folder / "model.keras").exists() and not (tmp_path / "models" / ".superseded").exists()


def test_unfinished_training_resumes_only_with_its_own_key(tmp_path):
    folder = tmp_path / "m"
    assert _reuse_or_prepare(folder, "k1", False, overwrite=False) is False
    (folder / "backup").mkdir()
    assert _reuse_or_prepare(folder, "k1", False, overwrite=False) is False
    assert (folder / "backup").is_dir()  # same key: the checkpoints resume
    assert _reuse_or_prepare(folder, "k2", False, overwrite=False) is False
    assert not (folder / "backup").exists()  # another model's checkpoints cannot resume this one
