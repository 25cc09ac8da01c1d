"""Tables 2, 3 and 4 rebuilt from a hand-made run folder (row records and run.json), checked cell by cell."""

import csv
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


def _record(row, name, table, architecture, per_class, averages, *, timesteps, finished, schedule="short"):
    return {
        "row": row,
        "name": name,
        "table": table,
        "architecture": architecture,
        "schedule": schedule,
        "classes": sorted(per_class),
        "timesteps": timesteps,
        "subsets": {"dev": "devtest", "test": "evaltest"},
        "class_average": {"devtest": _score(*averages[0]), "evaltest": _score(*averages[1])},
        "per_class": per_class,
        "config_hash": "x",
        "seconds": 1.0,
        "finished": finished,
    }


def _class(dev, test, members, member_scores=None):
    return {
        "members": {tag: {"folder": f"models/{tag}", "reused": False, "structure": CRNN_STRUCTURE} for tag in members},
        "scores": {"devtest": _score(*dev), "evaltest": _score(*test)},
        "member_scores": member_scores or {},
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
    assert rows[0] == ["ER Model", "Babyc. test", "Glassb. test", "Guns. test", "Average dev", "Average test"]
    assert rows[1] == ["CRNN", "0.31 (+0.10)", "0.19 (+0.00)", "0.60 (+0.19)", "0.20 (+0.03)", "0.37 (+0.08)"]
    assert rows[2] == ["FNN", "0.90 (+0.10)", "0.38 (+0.00)", "0.73 (+0.20)", "0.53 (+0.00)", "0.67 (+0.04)"]
    assert "on evaltest" in md and "'dev' on devtest" in md and "short schedule" in md
    assert "CRNN: timesteps babycry t9, glassbreak t3, gunshot t5" in md  # differs from the paper's ensembles
    assert "0.73" in md.split("FNN: the paper prints gunshot 0.53")[1]
    table = list(csv.DictReader(io.StringIO((run_folder / "results" / "table4.csv").read_text())))
    assert [r["model"] for r in table] == ["CRNN", "FNN"]
    assert float(table[0]["babycry"]) == pytest.approx(0.31) and float(table[0]["babycry_paper"]) == pytest.approx(0.21)
    assert float(table[0]["babycry_diff"]) == pytest.approx(0.10)


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
    table = list(csv.DictReader(io.StringIO((run_folder / "results" / "table3.csv").read_text())))
    gun = {r["parameter"]: (r["ours"], r["paper"]) for r in table if r["class"] == "gunshot"}
    assert gun["timesteps (τ)"] == ("5", "3, 5")


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
