"""Tables 2, 3 and 4 rebuilt from a hand-made run folder (row records and run.json), checked cell by cell."""

import csv
import dataclasses
import io
import json

import pytest

from rsed.evaluation.tables import build_table2, build_table3, build_table4, ensemble_text
from rsed.records import read_row_records
from rsed.run.results import write_results

CONFIG = {"training": {"learning_rate": 0.001, "decay": 0.01, "min_epochs": 8, "patience": 15, "seed": 1234}, "baseline": {"training": {"seed": 0}}}
CRNN_STRUCTURE = {"n_conv": 2, "n_recurrent": 2, "n_dense": 2, "params": 1270049}


def _score(er, f1):
    return {"error_rate": er, "f_measure": f1}


TRAINING = {"learning_rate": 0.001, "decay": 0.01, "min_epochs": 8, "patience": 15, "steps_per_epoch": 40, "positive_fraction": 0.3, "prior_correction": True}
FEATURES = {"hop_length": 1024, "frames_per_step": 4}


def _record(row, name, table, architecture, per_class, averages, *, timesteps, finished, schedule="short", recipe="", training=TRAINING, changes=()):
    return {
        "row": row,
        "name": name,
        "table": table,
        "architecture": architecture,
        "schedule": schedule,
        "classes": sorted(per_class),
        "timesteps": timesteps,
        "subsets": {"dev": "devtest", "test": "evaltest", "validation": "devtrain"},
        "data": "other",
        "recipe": recipe,
        "training": training,
        "onset_rules": ["earliest", "contiguous"],
        "experiment": {"features": FEATURES, "training_changes": list(changes)},
        "class_average": {"devtest": _score(*averages[0]), "evaltest": _score(*averages[1]), "devtrain": _score(0.15, 0.9)},
        "per_class": per_class,
        "config_hash": "x",
        "seconds": 1.0,
        "finished": finished,
    }


def _class(dev, test, members, member_scores=None, rule="earliest"):
    return {
        "members": {tag: {"folder": f"models/{tag}", "reused": False, "structure": CRNN_STRUCTURE, "updates": 320} for tag in members},
        "scores": {"devtest": _score(*dev), "evaltest": _score(*test), "devtrain": _score(0.1, 0.95)},
        "member_scores": member_scores or {},
        "postprocess": {"lookback_seconds": 1.0, "onset_rule": rule, "chosen_on": "devtrain"},
    }


@pytest.fixture()
def run_folder(tmp_path):
    babycry_members = {
        "t5": {"devtest": _score(0.40, 0.75), "evaltest": _score(0.45, 0.70)},
        "t9": {"devtest": _score(0.30, 0.80), "evaltest": _score(0.35, 0.78)},
        "t50": {"devtest": _score(0.50, 0.70), "evaltest": _score(0.55, 0.66)},
    }
    records = [
        _record("ensemble_babycry", "CRNN babycry ensemble", "2", "crnn",
                {"babycry": _class((0.25, 0.85), (0.30, 0.82), ["t5", "t9", "t50"], babycry_members)},
                ((0.25, 0.85), (0.30, 0.82)), timesteps={"babycry": [5, 9, 50]}, finished="2026-01-01T00:00:01"),
        _record("crnn_demo", "CRNN", "4", "crnn",
                {"babycry": _class((0.30, 0.80), (0.31, 0.79), ["t9"]),
                 "glassbreak": _class((0.10, 0.90), (0.19, 0.88), ["t3"]),
                 "gunshot": _class((0.20, 0.85), (0.60, 0.55), ["t5"])},
                ((0.20, 0.85), (0.3667, 0.74)), timesteps={"babycry": [9], "glassbreak": [3], "gunshot": [5]}, finished="2026-01-01T00:00:02"),
        _record("fnn", "FNN", "4", "fnn",
                {"babycry": _class((0.6, 0.6), (0.9, 0.5), ["fnn"]), "glassbreak": _class((0.4, 0.7), (0.38, 0.7), ["fnn"]),
                 "gunshot": _class((0.6, 0.6), (0.73, 0.6), ["fnn"])},
                ((0.53, 0.63), (0.67, 0.6)), timesteps={}, finished="2026-01-01T00:00:03"),
    ]
    (tmp_path / "results" / "rows").mkdir(parents=True)
    for r in records:
        (tmp_path / "results" / "rows" / f"{r['row']}.json").write_text(json.dumps(r))
    (tmp_path / "run.json").write_text(json.dumps({"config": CONFIG, "config_hash": "abc", "created": "now", "rows": {}}))
    write_results(tmp_path)
    return tmp_path


def _md_rows(text):
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| ")]


def test_table4_markdown_and_csv_beside_the_paper(run_folder):
    md = (run_folder / "results" / "table4.md").read_text()
    rows = _md_rows(md)
    assert rows[0] == ["ER Model", "Babyc. test", "Glassb. test", "Guns. test", "Average devtrain (val.)", "Average dev", "Average test"]
    assert rows[1] == ["CRNN", "0.31 (+0.10)", "0.19 (+0.00)", "0.60 (+0.19)", "0.15", "0.20 (+0.03)", "0.37 (+0.08)"]
    assert rows[2] == ["FNN", "0.90 (+0.10)", "0.38 (+0.00)", "0.73 (+0.20)", "0.15", "0.53 (+0.00)", "0.67 (+0.04)"]
    assert "on evaltest" in md and "'dev' on devtest" in md and "'val.' on devtrain" in md and "short schedule" in md
    assert "CRNN: timesteps babycry t9, glassbreak t3, gunshot t5" in md  # differs from the paper's ensembles
    assert "0.73" in md.split("FNN: the paper prints gunshot 0.53")[1]
    table = list(csv.DictReader(io.StringIO((run_folder / "results" / "table4.csv").read_text())))
    assert [r["model"] for r in table] == ["CRNN", "FNN"]
    assert float(table[0]["babycry"]) == pytest.approx(0.31) and float(table[0]["babycry_paper"]) == pytest.approx(0.21)
    assert float(table[0]["babycry_diff"]) == pytest.approx(0.10)
    assert float(table[0]["average_devtrain"]) == pytest.approx(0.15) and "average_devtrain_diff" not in table[0]


def _rewrite(folder, change):
    """Rewrite every row record of ``folder`` with ``change(record)`` and rebuild the tables."""
    for path in (folder / "results" / "rows").glob("*.json"):
        record = json.loads(path.read_text())
        change(record)
        path.write_text(json.dumps(record))
    write_results(folder)


def test_table4_never_subtracts_the_paper_from_the_mini_data(run_folder):
    _rewrite(run_folder, lambda r: r.update(data="mini"))
    md = (run_folder / "results" / "table4.md").read_text()
    rows = _md_rows(md)
    assert rows[0] == ["ER Model", "Babyc. evaltest", "Glassb. evaltest", "Guns. evaltest", "Average devtrain (val.)", "Average devtest", "Average evaltest",
                       "Paper Babyc. test", "Paper Glassb. test", "Paper Guns. test", "Paper average dev", "Paper average test"]
    assert rows[1] == ["CRNN", "0.31", "0.19", "0.60", "0.15", "0.20", "0.37", "0.21", "0.19", "0.41", "0.17", "0.29"]
    assert "(+" not in md and "(-" not in md and "mini data is synthetic" in md
    table = list(csv.DictReader(io.StringIO((run_folder / "results" / "table4.csv").read_text())))
    assert list(table[0]) == ["model", "babycry_evaltest", "glassbreak_evaltest", "gunshot_evaltest", "average_devtrain", "average_devtest", "average_evaltest",
                              "paper_babycry_test", "paper_glassbreak_test", "paper_gunshot_test", "paper_dev", "paper_test"]
    assert float(table[0]["paper_test"]) == pytest.approx(0.29)


def test_table4_without_evaltest_prints_devtest_once(run_folder):
    def without_evaltest(r):
        r.update(subsets={"dev": "devtest", "test": "devtest", "validation": "devtrain"})
        r["class_average"].pop("evaltest")
        for pc in r["per_class"].values():
            pc["scores"].pop("evaltest")

    _rewrite(run_folder, without_evaltest)
    md = (run_folder / "results" / "table4.md").read_text()
    rows = _md_rows(md)
    assert rows[0] == ["ER Model", "Babyc. devtest", "Glassb. devtest", "Guns. devtest", "Average devtrain (val.)", "Average devtest",
                       "Paper Babyc. test", "Paper Glassb. test", "Paper Guns. test", "Paper average dev", "Paper average test"]
    assert rows[1][1:6] == ["0.30", "0.10", "0.20", "0.15", "0.20"]  # devtest under one heading only
    assert "(+" not in md and "no evaltest" in md


def test_rows_beyond_the_paper_are_extra_lines_never_subtracted(run_folder):
    path = run_folder / "results" / "rows" / "crnn_demo.json"
    record = json.loads(path.read_text())
    record.update(row="crnn_plus", recipe="plus", finished="2026-01-01T00:00:00", subsets={**record["subsets"], "validation": "heldout"})
    record["class_average"]["heldout"] = _score(0.4, 0.7)
    (path.parent / "crnn_plus.json").write_text(json.dumps(record))
    write_results(run_folder)
    rows = _md_rows((run_folder / "results" / "table4.md").read_text())
    assert rows[0][4] == "Average val."  # two validation subsets: each cell names its own
    assert [r[0] for r in rows[1:]] == ["CRNN [crnn_demo]", "FNN", "CRNN [crnn_plus] (beyond the paper)"]
    assert rows[1][4] == "0.15 (devtrain)" and rows[3][1:5] == ["0.31", "0.19", "0.60", "0.40 (heldout)"]


def test_table2_lists_each_member_and_the_ensemble(run_folder):
    md = (run_folder / "results" / "table2.md").read_text()
    rows = _md_rows(md)
    assert rows[0] == ["Target event", "Timestep ensemble", "Paper", "Model", "ER dev", "F1 dev", "ER test", "F1 test"]
    assert rows[1] == ["Babycry", "(t5 + t9 + t50)/3", "(t5 + t9 + t50)/3", "t5", "0.40", "75.0 %", "0.45", "70.0 %"]
    assert rows[2] == ["", "", "", "t9", "0.30", "80.0 %", "0.35", "78.0 %"]
    assert rows[4] == ["", "", "", "ensemble", "0.25", "85.0 %", "0.30", "82.0 %"]
    # Without a Table 2 row, a class comes from the CRNN row of Table 4 (here one tau each).
    assert rows[5] == ["Glassbreak", "t3", "t3", "t3", "0.10", "90.0 %", "0.19", "88.0 %"]
    assert rows[6] == ["Gunshot", "t5", "(t3 + t5)/2", "t5", "0.20", "85.0 %", "0.60", "55.0 %"]
    assert len(rows) == 7  # the FNN is not a timestep ensemble
    table = list(csv.DictReader(io.StringIO((run_folder / "results" / "table2.csv").read_text())))
    assert [(r["class"], r["model"]) for r in table][:4] == [("babycry", "t5"), ("babycry", "t9"), ("babycry", "t50"), ("babycry", "ensemble")]
    assert float(table[3]["er_test"]) == pytest.approx(0.30)


def test_table3_hyperparameters_beside_the_paper(run_folder):
    rows = {r[0]: r[1:] for r in _md_rows((run_folder / "results" / "table3.md").read_text())}
    assert rows["Parameters"] == ["Babycry", "Glassbreak", "Gunshot"]
    assert rows["N_c"] == ["2", "2", "2"] and rows["N_r"] == ["2", "2", "2"]
    assert rows["timesteps (τ)"] == ["5, 9, 50", "3", "5 (paper: 3, 5)"]  # the union of the taus trained
    assert rows["lr"] == ["0.001"] * 3 and rows["lrd"] == ["0.01"] * 3
    assert rows["min. epochs"] == ["8 (paper: 100)"] * 3 and rows["patience"] == ["15"] * 3
    assert rows["presence threshold t1"] == ["0.8", "0.8", "0.5"]
    assert rows["hop (samples)"] == ["1024"] * 3 and rows["frames per step"] == ["4"] * 3  # not stated in the paper
    assert rows["batches per epoch"] == ["40"] * 3 and rows["positive fraction"] == ["0.3"] * 3
    assert rows["prior correction"] == ["yes"] * 3 and rows["onset rule"] == ["chosen on devtrain"] * 3
    table = list(csv.DictReader(io.StringIO((run_folder / "results" / "table3.csv").read_text())))
    gun = {r["parameter"]: (r["ours"], r["paper"]) for r in table if r["class"] == "gunshot" and r["section"] == "table3"}
    assert gun["timesteps (τ)"] == ("5", "3, 5") and gun["hop (samples)"] == ("1024", "-")


def test_table3_has_a_line_per_row_with_its_switches_and_the_ablation(run_folder):
    natural = {**TRAINING, "positive_fraction": 0.0, "prior_correction": False}
    record = _record("crnn_natural", "CRNN natural sampling", "3", "crnn",
                     {"babycry": _class((0.5, 0.6), (0.5, 0.6), ["t9"], rule="contiguous"),
                      "glassbreak": _class((0.2, 0.8), (0.2, 0.8), ["t3"]),
                      "gunshot": _class((0.9, 0.2), (0.9, 0.2), ["t5"])},
                     ((0.53, 0.5), (0.53, 0.5)), timesteps={"babycry": [9], "glassbreak": [3], "gunshot": [5]}, finished="2026-01-01T00:00:05",
                     recipe="natural", training=natural, changes=[["positive_fraction", 0.0], ["prior_correction", False]])
    (run_folder / "results" / "rows" / "crnn_natural.json").write_text(json.dumps(record))
    write_results(run_folder)
    md = (run_folder / "results" / "table3.md").read_text()
    rows = {r[0]: r[1:] for r in _md_rows(md)}
    assert rows["positive fraction"] == ["0.3"] * 3  # the paper's configuration: the ablation is a line of its own
    assert rows["Row"] == ["model", "hop", "frames/step", "positive fraction", "prior correction", "batches/epoch", "updates", "onset rule", "look-back (s)",
                           "ER devtrain (val.)", "ER devtest", "ER evaltest"]
    assert rows["crnn_demo"] == ["CRNN", "1024", "4", "0.3", "yes", "40", "320 / 320 / 320", "earliest / earliest / earliest", "1 / 1 / 1",
                                 "0.10 / 0.10 / 0.10", "0.30 / 0.10 / 0.20", "0.31 / 0.19 / 0.60"]
    assert rows["crnn_natural (ablation)"][:8] == ["CRNN", "1024", "4", "0 (natural)", "no", "40", "320 / 320 / 320", "contiguous / earliest / earliest"]
    assert rows["ensemble_babycry"][6] == "320+320+320 / - / -"  # three models of one class; the others not in the row
    assert "per-class cells: babycry / glassbreak / gunshot" in md
    assert "crnn_natural" not in (run_folder / "results" / "table2.md").read_text() and "natural" not in (run_folder / "results" / "table4.md").read_text()
    table = list(csv.DictReader(io.StringIO((run_folder / "results" / "table3.csv").read_text())))
    mine = {(r["parameter"], r["class"]): r["ours"] for r in table if r["row"] == "crnn_natural"}
    assert mine["positive fraction", ""] == "0 (natural)" and mine["onset rule", "babycry"] == "contiguous"
    assert float(mine["ER devtest", "gunshot"]) == pytest.approx(0.9)


def test_scores_and_run_record(run_folder):
    scores = json.loads((run_folder / "results" / "scores.json").read_text())
    assert set(scores["rows"]) == {"ensemble_babycry", "crnn_demo", "fnn"}
    assert scores["rows"]["fnn"]["class_average"]["evaltest"]["error_rate"] == pytest.approx(0.67)
    record = json.loads((run_folder / "results" / "run_record.json").read_text())
    assert record["seeds"] == {"training": 1234, "baseline_training": 0}
    assert record["packages"]["numpy"] and record["packages"]["sed_eval"] == "0.2.1"
    assert record["hardware"]["cpu_count"] >= 1
    assert set(record["rows"]) == {"ensemble_babycry", "crnn_demo", "fnn"}
    assert record["rows"]["crnn_demo"]["models"]["gunshot/t5"]["folder"] == "models/t5"


def test_builders_on_records_directly(run_folder):
    records = read_row_records(run_folder)
    assert [r["row"] for r in records] == ["ensemble_babycry", "crnn_demo", "fnn"]  # in finishing order
    t4 = build_table4(records)
    assert list(t4["rows"]) == ["CRNN", "FNN"] and t4["classes"] == ["babycry", "glassbreak", "gunshot"]
    t2 = build_table2(records)
    assert [e["class"] for e in t2["classes"]] == ["babycry", "glassbreak", "gunshot"]
    t3 = build_table3(records, CONFIG)
    assert dict(t3["rows"])["lr"]["babycry"] == ("0.001", "0.001")
    assert ensemble_text([3]) == "t3" and ensemble_text([3, 5]) == "(t3 + t5)/2"


def test_duplicate_labels_get_their_row_name(run_folder):
    records = read_row_records(run_folder)
    twin = dict(records[1], row="crnn", finished="2026-01-01T00:00:04")
    t4 = build_table4(records + [twin])
    assert list(t4["rows"]) == ["CRNN [crnn_demo]", "FNN", "CRNN [crnn]"]


def test_a_recipe_of_its_own_is_beyond_the_paper_even_with_its_own_schedule():
    """crnn_plus changes its epochs too (training_changes), yet it is no ablation of the paper's rows."""
    from rsed.evaluation.tables.common import row_kind
    from rsed.run.rows import rows_for

    def record(row):  # as rsed/run/results.py writes a row record
        experiment = rows_for("short")[row]
        return json.loads(json.dumps({"recipe": experiment.recipe, "experiment": dataclasses.asdict(experiment)}, default=str))

    assert row_kind(record("crnn_demo")) == ""
    assert row_kind(record("crnn_natural")) == "ablation"  # only the paper's switches changed
    assert row_kind(record("crnn_plus")) == "beyond the paper"  # its own training and validation, longer schedule
    assert rows_for("short")["crnn_plus"].training_changes  # the case that was mislabelled "ablation"
