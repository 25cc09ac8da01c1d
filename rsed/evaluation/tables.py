"""The paper's Tables 2, 3 and 4, rebuilt from a run's row records, each beside the paper.

- Table 2: each class's timestep ensemble, with the ER and F1 of every member model and of
  the ensemble (the paper lists the ensembles only and prints no scores for them);
- Table 3: the CRNN hyperparameters per class as the paper prints them (N_c, N_r, tau, lr,
  lrd, and the epochs and patience of its caption), ours beside the paper's;
- Table 4: per-class test ER and class-averaged dev and test ER of the CRNN, CNN and FNN rows,
  each cell ``ours (ours - paper)``.

``build_table*`` turn row records (``results/rows/*.json``, written by
:mod:`rsed.run.results`) into plain structures; ``render_table*`` and ``table*_csv`` print them.
"""

from __future__ import annotations

import csv
import io
import math

from ..config import PAPER_PRESENCE_THRESHOLDS, PAPER_TIMESTEPS

#: Table 4 of the paper (ER): per-class on the evaluation set, averages on devtest and evaluation.
PAPER_TABLE4 = {
    "CRNN": {"babycry": 0.21, "glassbreak": 0.19, "gunshot": 0.41, "dev": 0.17, "test": 0.29},
    "CNN": {"babycry": 0.48, "glassbreak": 0.27, "gunshot": 0.56, "dev": 0.35, "test": 0.43},
    "FNN": {"babycry": 0.80, "glassbreak": 0.38, "gunshot": 0.53, "dev": 0.53, "test": 0.63},
}

SHORT_NAMES = {"babycry": "Babyc.", "glassbreak": "Glassb.", "gunshot": "Guns."}


def paper_label(label: str) -> str:
    """The paper's row for one of ours: 'CRNN [crnn_demo]' -> 'CRNN'."""
    return label.split(" [", 1)[0]


def table4_rows(results: dict[str, dict[str, float]], classes: list[str]) -> list[dict[str, object]]:
    """Rows of Table 4 from ``{model: {class: ER, 'dev': ER, 'test': ER}}`` with the paper's value beside ours."""
    rows = []
    for model, values in results.items():
        row: dict[str, object] = {"model": model}
        for key in [*classes, "dev", "test"]:
            ours = values.get(key, math.nan)
            paper = PAPER_TABLE4.get(paper_label(model), {}).get(key, math.nan)
            row[key] = ours
            row[f"{key}_paper"] = paper
            row[f"{key}_diff"] = ours - paper
        rows.append(row)
    return rows


def _fmt(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def _fmt_diff(value: float) -> str:
    return "" if math.isnan(value) else f" ({value:+.2f})"


def render_table4(results: dict[str, dict[str, float]], classes: list[str], *, title: str, with_paper: bool = True, notes: list[str] = ()) -> str:
    """Markdown table in the paper's Table 4 layout; cells read ``ours (ours - paper)`` when the paper has a value."""
    headers = ["ER Model", *[f"{SHORT_NAMES.get(c, c)} test" for c in classes], "Average dev", "Average test"]
    lines = [f"**{title}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    if not results:
        lines += ["", "(no Table 4 row has run in this folder yet)"]
    for row in table4_rows(results, classes):
        cells = [str(row["model"])]
        for key in [*classes, "dev", "test"]:
            cell = _fmt(row[key])
            if with_paper:
                cell += _fmt_diff(row[f"{key}_diff"])
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    shown = {paper_label(m) for m in results} & set(PAPER_TABLE4)
    if with_paper and shown:
        lines.append("")
        lines.append("Paper (Table 4): " + "; ".join(
            f"{m} " + ", ".join(f"{k} {_fmt(v)}" for k, v in vals.items()) for m, vals in PAPER_TABLE4.items() if m in shown
        ))
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def table4_csv(results: dict[str, dict[str, float]], classes: list[str]) -> str:
    """CSV of the same rows (ours, paper, difference for every column)."""
    rows = table4_rows(results, classes)
    keys = ["model"] + [f"{k}{s}" for k in [*classes, "dev", "test"] for s in ("", "_paper", "_diff")]
    out = [",".join(keys)]
    for row in rows:
        out.append(",".join(str(row["model"]) if k == "model" else ("" if math.isnan(row[k]) else f"{row[k]:.4f}") for k in keys))
    return "\n".join(out) + "\n"


def _nan(value) -> float:
    return math.nan if value is None else float(value)


def _title_suffix(records: list[dict]) -> str:
    schedules = sorted({r.get("schedule", "paper") for r in records})
    return "" if schedules in ([], ["paper"]) else f"; {', '.join(schedules)} schedule"


def _subsets(records: list[dict]) -> tuple[str, str]:
    """(dev, test) subset names of the records; test is dev when the data has no evaluation set."""
    for r in records:
        return r["subsets"]["dev"], r["subsets"]["test"]
    return "devtest", "devtest"


def _classes(records: list[dict]) -> list[str]:
    return sorted({c for r in records for c in r["classes"]})


# --------------------------------------------------------------------------------------
# Table 4
# --------------------------------------------------------------------------------------


def build_table4(records: list[dict]) -> dict:
    """Table 4 from row records: ``{'rows': {label: {class: ER, 'dev': ER, 'test': ER}}, 'classes', 'title', 'notes'}``.

    Rows are the records of table "4" in the order they finished; a label used twice gets
    its row name in brackets. Per-class values are the test-subset ER, 'dev' and 'test' the
    class-averaged ER of the dev and test subsets.
    """
    rows4 = [r for r in records if r.get("table") == "4"]
    dev, test = _subsets(rows4)
    classes = _classes(rows4)
    names = [r["name"] for r in rows4]
    table, notes = {}, []
    for r in rows4:
        label = r["name"] if names.count(r["name"]) == 1 else f"{r['name']} [{r['row']}]"
        values = {c: _nan(r["per_class"][c]["scores"].get(r["subsets"]["test"], {}).get("error_rate")) for c in r["classes"]}
        values["dev"] = _nan(r["class_average"].get(r["subsets"]["dev"], {}).get("error_rate"))
        values["test"] = _nan(r["class_average"].get(r["subsets"]["test"], {}).get("error_rate"))
        table[label] = values
        paper = {c: list(PAPER_TIMESTEPS[c]) for c in r["classes"] if c in PAPER_TIMESTEPS}
        ours = {c: list(r["timesteps"].get(c, [])) for c in paper}
        if r["architecture"] != "fnn" and ours != paper:
            notes.append(f"{label}: timesteps " + ", ".join(f"{c} " + "+".join(f"t{t}" for t in ours[c]) for c in ours) + " (the paper's Table 2 ensembles differ)")
        if r["architecture"] == "fnn" and "gunshot" in r["classes"]:
            notes.append("FNN: the paper prints gunshot 0.53, the challenge published 0.73 for the baseline (NOTES section 5); only 0.73 fits its 0.63 average")
    title = f"Table 4 (ER): per-class and 'test' on {test}, 'dev' on {dev}{_title_suffix(rows4)}"
    return {"rows": table, "classes": classes, "title": title, "notes": notes}


# --------------------------------------------------------------------------------------
# Table 2
# --------------------------------------------------------------------------------------


def ensemble_text(taus) -> str:
    """The paper's notation: ``[3] -> 't3'``, ``[5, 9, 50] -> '(t5 + t9 + t50)/3'``."""
    taus = list(taus)
    if len(taus) == 1:
        return f"t{taus[0]}"
    return "(" + " + ".join(f"t{t}" for t in taus) + f")/{len(taus)}"


def build_table2(records: list[dict]) -> dict:
    """Table 2 from row records: per class its ensemble, the paper's, and ER/F1 of each member and the ensemble.

    A class's source is its Table 2 (ensemble) row, else the CRNN row of Table 4; classes
    with neither list the single-tau rows of Table 3 they have. Returns ``{'dev', 'test',
    'title', 'classes': [{'class', 'paper', 'ours', 'lines': [{'model', 'dev': (ER, F1), 'test': (ER, F1)}]}]}``.
    """
    crnn = [r for r in records if r.get("architecture") == "crnn"]
    dev, test = _subsets(crnn)
    entries = []
    for c in _classes(crnn):
        source = [r for r in crnn if r.get("table") == "2" and c in r["classes"]] or [r for r in crnn if r.get("table") == "4" and c in r["classes"]]
        lines = []
        if source:
            r = source[-1]
            taus = r["timesteps"][c]
            pc = r["per_class"][c]
            scored = pc.get("member_scores") or {}
            for tag in (f"t{t}" for t in taus):
                if tag in scored:
                    lines.append(_line(tag, scored[tag], dev, test))
            lines.append(_line("ensemble" if len(taus) > 1 else f"t{taus[0]}", pc["scores"], dev, test))
        else:
            singles = sorted((r for r in crnn if r.get("table") == "3" and c in r["classes"]), key=lambda r: r["timesteps"][c][0])
            taus = [r["timesteps"][c][0] for r in singles]
            lines = [_line(f"t{r['timesteps'][c][0]}", r["per_class"][c]["scores"], dev, test) for r in singles]
        entries.append({"class": c, "paper": ensemble_text(PAPER_TIMESTEPS[c]) if c in PAPER_TIMESTEPS else "-", "ours": ensemble_text(taus) if source else "-", "lines": lines})
    title = f"Table 2: timestep ensembles per class; ER and F1 on {dev} (dev)" + ("" if test == dev else f" and {test} (test)") + _title_suffix(crnn)
    return {"dev": dev, "test": test, "title": title, "classes": entries}


def _line(model: str, scores: dict, dev: str, test: str) -> dict:
    def pair(subset):
        s = scores.get(subset) or {}
        return (_nan(s.get("error_rate")), _nan(s.get("f_measure")))

    return {"model": model, "dev": pair(dev), "test": pair(test)}


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f} %"


def render_table2(table: dict) -> str:
    """Markdown in the paper's Table 2 layout (target event, timestep ensemble), our scores beside."""
    with_test = table["test"] != table["dev"]
    headers = ["Target event", "Timestep ensemble", "Paper", "Model", "ER dev", "F1 dev"] + (["ER test", "F1 test"] if with_test else [])
    lines = [f"**{table['title']}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for entry in table["classes"]:
        for i, line in enumerate(entry["lines"] or [{"model": "-", "dev": (math.nan, math.nan), "test": (math.nan, math.nan)}]):
            head = [entry["class"].capitalize(), entry["ours"], entry["paper"]] if i == 0 else ["", "", ""]
            cells = head + [line["model"], _fmt(line["dev"][0]), _pct(line["dev"][1])]
            if with_test:
                cells += [_fmt(line["test"][0]), _pct(line["test"][1])]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "The paper's Table 2 lists the ensembles only; it prints no scores for them or their members."]
    return "\n".join(lines) + "\n"


def table2_csv(table: dict) -> str:
    """CSV of Table 2: one line per (class, model)."""
    rows = [["class", "ensemble", "paper_ensemble", "model", "er_dev", "f1_dev", "er_test", "f1_test"]]
    for entry in table["classes"]:
        for line in entry["lines"]:
            values = [*line["dev"], *line["test"]]
            rows.append([entry["class"], entry["ours"], entry["paper"], line["model"]] + ["" if math.isnan(v) else f"{v:.4f}" for v in values])
    return _csv(rows)


def _csv(rows: list[list]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------
# Table 3
# --------------------------------------------------------------------------------------

#: Table 3 of the paper (and its caption: "at least 100 epochs ... patience of 15 epochs"), per class.
PAPER_TABLE3 = {
    "N_c": {c: 2 for c in PAPER_TIMESTEPS},
    "N_r": {c: 2 for c in PAPER_TIMESTEPS},
    "timesteps (τ)": {c: ", ".join(map(str, t)) for c, t in PAPER_TIMESTEPS.items()},
    "lr": {c: "0.001" for c in PAPER_TIMESTEPS},
    "lrd": {c: "0.01" for c in PAPER_TIMESTEPS},
    "min. epochs": {c: 100 for c in PAPER_TIMESTEPS},
    "patience": {c: 15 for c in PAPER_TIMESTEPS},
    "presence threshold t1": {c: f"{t:g}" for c, t in PAPER_PRESENCE_THRESHOLDS.items()},
}


def build_table3(records: list[dict], config: dict) -> dict:
    """Table 3 from row records and the run configuration: ``{'title', 'classes', 'rows': [(parameter, {class: (ours, paper)})]}``.

    Per class: the taus of every CRNN model this run trained, N_c and N_r counted on the
    built model, and the training settings shared by all rows; the presence threshold t1
    (section 2.5) is added below the paper's rows.
    """
    crnn = [r for r in records if r.get("architecture") == "crnn"]
    classes = _classes(crnn)
    training = config.get("training", {})
    ours: dict[str, dict[str, str]] = {p: {} for p in PAPER_TABLE3}
    for c in classes:
        taus = sorted({t for r in crnn if c in r["classes"] for t in r["timesteps"][c]})
        structure = next((m.get("structure") for r in crnn if c in r["classes"] for m in r["per_class"][c]["members"].values() if m.get("structure")), None) or {}
        ours["N_c"][c] = structure.get("n_conv", "-")
        ours["N_r"][c] = structure.get("n_recurrent", "-")
        ours["timesteps (τ)"][c] = ", ".join(map(str, taus)) or "-"
        ours["lr"][c] = f"{training['learning_rate']:g}" if "learning_rate" in training else "-"
        ours["lrd"][c] = f"{training['decay']:g}" if "decay" in training else "-"
        ours["min. epochs"][c] = training.get("min_epochs", "-")
        ours["patience"][c] = training.get("patience", "-")
        ours["presence threshold t1"][c] = f"{PAPER_PRESENCE_THRESHOLDS.get(c, 0.5):g}"
    rows = [(p, {c: (str(ours[p][c]), str(PAPER_TABLE3[p].get(c, "-"))) for c in classes}) for p in PAPER_TABLE3]
    title = "Table 3: CRNN hyperparameters per class" + _title_suffix(crnn)
    return {"title": title, "classes": classes, "rows": rows}


def render_table3(table: dict) -> str:
    """Markdown in the paper's Table 3 layout (parameters down, classes across); ``ours (paper: x)`` where they differ."""
    headers = ["Parameters", *[c.capitalize() for c in table["classes"]]]
    lines = [f"**{table['title']}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for parameter, cells in table["rows"]:
        values = [ours if paper in (ours, "-") else f"{ours} (paper: {paper})" for ours, paper in (cells[c] for c in table["classes"])]
        lines.append("| " + " | ".join([parameter, *values]) + " |")
    lines += ["", "N_c, N_r: convolutional and recurrent layers; lr: learning rate; lrd: learning rate decay. "
              "Epochs and patience are from the paper's caption, t1 from its section 2.5."]
    return "\n".join(lines) + "\n"


def table3_csv(table: dict) -> str:
    """CSV of Table 3: one line per (parameter, class) with ours and the paper's value."""
    rows = [["parameter", "class", "ours", "paper"]]
    for parameter, cells in table["rows"]:
        rows += [[parameter, c, *cells[c]] for c in table["classes"]]
    return _csv(rows)
