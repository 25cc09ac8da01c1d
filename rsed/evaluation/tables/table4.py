"""Table 4: per-class test ER and class-averaged ER of the CRNN, CNN and FNN rows, beside the paper's.

Where our subsets are the paper's (:func:`~rsed.evaluation.tables.common.comparable`) each cell is
``ours (ours - paper)`` under the paper's headings; elsewhere (the mini data, a root without
``evaltest``) our columns name their subsets and the paper's values stand in columns of their own,
never subtracted. The validation ER (the paper gives none) is a column of its own.
"""

from __future__ import annotations

import math

from ...config import PAPER_TIMESTEPS
from .common import (
    PAPER_TABLE4,
    SHORT_NAMES,
    average_er,
    classes_of,
    comparable,
    fmt,
    fmt_diff,
    nan_or,
    paper_label,
    row_kind,
    scored_subsets,
    title_suffix,
    to_csv,
    validation_subset,
    why_not_comparable,
)


def build_table4(records: list[dict]) -> dict:
    """Table 4 from row records.

    Returns ``{'rows': {label: {class: ER, 'validation': ER, 'dev': ER, 'test': ER}},
    'classes', 'title', 'notes', 'comparable', 'dev', 'test', 'validation': [subsets]}``.
    Rows are the records of table "4", the paper's configuration first, then rows beyond
    it (labelled so, never compared with the paper), each group in finishing order; a label
    used twice gets its row name in brackets. Per-class values are the test-subset ER, 'dev'
    and 'test' the class-averaged ER of the dev and test subsets ('test' only when it is
    another subset than dev), 'validation' that of the row's validation subset.
    """
    rows4 = [r for r in records if r.get("table") == "4"]
    rows4 = [r for r in rows4 if not row_kind(r)] + [r for r in rows4 if row_kind(r)]
    dev, test = scored_subsets(rows4)
    classes = classes_of(rows4)
    names = [r["name"] for r in rows4]
    table, notes = {}, []
    for r in rows4:
        label = r["name"] if names.count(r["name"]) == 1 else f"{r['name']} [{r['row']}]"
        if row_kind(r):
            label += f" ({row_kind(r)})"
        values = {c: nan_or(r["per_class"][c]["scores"].get(r["subsets"]["test"], {}).get("error_rate")) for c in r["classes"]}
        values["validation"] = average_er(r, validation_subset(r))
        values["dev"] = average_er(r, r["subsets"]["dev"])
        if test != dev:
            values["test"] = average_er(r, r["subsets"]["test"])
        values["validation_subset"] = validation_subset(r)
        values["paper_row"] = None if row_kind(r) else paper_label(label)  # rows beyond the paper have none
        table[label] = values
        paper = {c: list(PAPER_TIMESTEPS[c]) for c in r["classes"] if c in PAPER_TIMESTEPS}
        ours = {c: list(r["timesteps"].get(c, [])) for c in paper}
        if r["architecture"] != "fnn" and ours != paper:
            notes.append(f"{label}: timesteps " + ", ".join(f"{c} " + "+".join(f"t{t}" for t in ours[c]) for c in ours) + " (the paper's Table 2 ensembles differ)")
        if r["architecture"] == "fnn" and "gunshot" in r["classes"]:
            notes.append("FNN: the paper prints gunshot 0.53, the challenge published 0.73 for the baseline (NOTES section 5); only 0.73 fits its 0.63 average")
    same = comparable(rows4)
    validation = sorted({v["validation_subset"] for v in table.values()} - {None})
    val_text = f"; 'val.' on {', '.join(validation)} (our validation; the paper gives none)" if validation else ""
    if same:
        title = f"Table 4 (ER): per-class and 'test' on {test}, 'dev' on {dev}, as the paper{val_text}; cells ours (ours - paper){title_suffix(rows4)}"
    else:
        ours = test if test == dev else f"{dev} and {test}"
        title = f"Table 4 (ER): ours on {ours}{val_text}; the paper's beside them, not subtracted ({why_not_comparable(rows4)}){title_suffix(rows4)}"
    return {"rows": table, "classes": classes, "title": title, "notes": notes, "comparable": same, "dev": dev, "test": test, "validation": validation}


def _paper_value(values: dict, key: str) -> float:
    return PAPER_TABLE4.get(values.get("paper_row"), {}).get(key, math.nan)


def table4_columns(table: dict) -> list[tuple[str, str, str]]:
    """``(Markdown heading, CSV name, value key)`` of each column after the model's name.

    Value keys: a class, 'validation', 'dev', 'test' (ours); 'paper:<key>' (the paper's value of
    a class or of 'dev' / 'test'). With :func:`comparable` records the headings are the paper's
    (a difference follows each of our cells that the paper has); otherwise each of our columns
    names its subset and the paper's values follow in columns of their own.
    """
    classes, dev, test, validation = table["classes"], table["dev"], table["test"], table["validation"]
    val_heading = f"Average {validation[0]} (val.)" if len(validation) == 1 else "Average val."
    val_csv = f"average_{validation[0]}" if len(validation) == 1 else "average_validation"
    if table["comparable"]:
        columns = [(f"{SHORT_NAMES.get(c, c)} test", c, c) for c in classes]
        return columns + [(val_heading, val_csv, "validation"), ("Average dev", "dev", "dev"), ("Average test", "test", "test")]
    columns = [(f"{SHORT_NAMES.get(c, c)} {test}", f"{c}_{test}", c) for c in classes]
    columns += [(val_heading, val_csv, "validation"), (f"Average {dev}", f"average_{dev}", "dev")]
    if test != dev:
        columns.append((f"Average {test}", f"average_{test}", "test"))
    columns += [(f"Paper {SHORT_NAMES.get(c, c)} test", f"paper_{c}_test", f"paper:{c}") for c in classes]
    return columns + [("Paper average dev", "paper_dev", "paper:dev"), ("Paper average test", "paper_test", "paper:test")]


def _value(values: dict, key: str) -> float:
    return _paper_value(values, key[6:]) if key.startswith("paper:") else values.get(key, math.nan)


def render_table4(table: dict) -> str:
    """Markdown in the paper's Table 4 layout: ``ours (ours - paper)`` where the subsets are the
    paper's, else our columns and the paper's side by side (:func:`table4_columns`)."""
    columns = table4_columns(table)
    lines = [f"**{table['title']}**", "", "| " + " | ".join(["ER Model", *(h for h, _, _ in columns)]) + " |", "|" + "---|" * (len(columns) + 1)]
    if not table["rows"]:
        lines += ["", "(no Table 4 row has run in this folder yet)"]
    mixed = len(table["validation"]) > 1
    for label, values in table["rows"].items():
        cells = [label]
        for _, _, key in columns:
            cell = fmt(_value(values, key))
            if key == "validation" and mixed and values.get("validation_subset"):
                cell += f" ({values['validation_subset']})"
            elif table["comparable"] and key != "validation":
                cell += fmt_diff(values.get(key, math.nan) - _paper_value(values, key))
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    shown = {v.get("paper_row") for v in table["rows"].values()} & set(PAPER_TABLE4)
    if table["comparable"] and shown:
        lines.append("")
        lines.append("Paper (Table 4): " + "; ".join(
            f"{m} " + ", ".join(f"{k} {fmt(v)}" for k, v in vals.items()) for m, vals in PAPER_TABLE4.items() if m in shown
        ))
    lines += [f"- {note}" for note in table["notes"]]
    return "\n".join(lines) + "\n"


def table4_csv(table: dict) -> str:
    """CSV of the same columns; with comparable subsets also ``<name>_paper`` and ``<name>_diff`` for each column the paper has."""
    columns = table4_columns(table)
    header = ["model"]
    for _, name, key in columns:
        header.append(name)
        if table["comparable"] and key != "validation":
            header += [f"{name}_paper", f"{name}_diff"]
    if len(table["validation"]) > 1:
        header.append("validation_subset")
    rows = [header]
    for label, values in table["rows"].items():
        row = [label]
        for _, _, key in columns:
            ours = _value(values, key)
            row.append(ours)
            if table["comparable"] and key != "validation":
                row += [_paper_value(values, key), ours - _paper_value(values, key)]
        cells = ["" if isinstance(v, float) and math.isnan(v) else f"{v:.4f}" if isinstance(v, float) else v for v in row]
        rows.append(cells + ([values.get("validation_subset") or ""] if len(table["validation"]) > 1 else []))
    return to_csv(rows)


