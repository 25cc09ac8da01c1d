"""The paper's Table 4 layout: per-class test ER, class-averaged dev and test ER, beside the paper."""

from __future__ import annotations

import math

#: Table 4 of the paper (ER): per-class on the evaluation set, averages on devtest and evaluation.
PAPER_TABLE4 = {
    "CRNN": {"babycry": 0.21, "glassbreak": 0.19, "gunshot": 0.41, "dev": 0.17, "test": 0.29},
    "CNN": {"babycry": 0.48, "glassbreak": 0.27, "gunshot": 0.56, "dev": 0.35, "test": 0.43},
    "FNN": {"babycry": 0.80, "glassbreak": 0.38, "gunshot": 0.53, "dev": 0.53, "test": 0.63},
}

SHORT_NAMES = {"babycry": "Babyc.", "glassbreak": "Glassb.", "gunshot": "Guns."}


def table4_rows(results: dict[str, dict[str, float]], classes: list[str]) -> list[dict[str, object]]:
    """Rows of Table 4 from ``{model: {class: ER, 'dev': ER, 'test': ER}}`` with the paper's value beside ours."""
    rows = []
    for model, values in results.items():
        row: dict[str, object] = {"model": model}
        for key in [*classes, "dev", "test"]:
            ours = values.get(key, math.nan)
            paper = PAPER_TABLE4.get(model, {}).get(key, math.nan)
            row[key] = ours
            row[f"{key}_paper"] = paper
            row[f"{key}_diff"] = ours - paper
        rows.append(row)
    return rows


def _fmt(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def _fmt_diff(value: float) -> str:
    return "" if math.isnan(value) else f" ({value:+.2f})"


def render_table4(results: dict[str, dict[str, float]], classes: list[str], *, title: str, with_paper: bool = True) -> str:
    """Markdown table in the paper's Table 4 layout; cells read ``ours (ours - paper)`` when the paper has a value."""
    headers = ["ER Model", *[f"{SHORT_NAMES.get(c, c)} test" for c in classes], "Average dev", "Average test"]
    lines = [f"**{title}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in table4_rows(results, classes):
        cells = [str(row["model"])]
        for key in [*classes, "dev", "test"]:
            cell = _fmt(row[key])
            if with_paper:
                cell += _fmt_diff(row[f"{key}_diff"])
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    if with_paper:
        lines.append("")
        lines.append("Paper (Table 4): " + "; ".join(
            f"{m} " + ", ".join(f"{k} {_fmt(v)}" for k, v in vals.items()) for m, vals in PAPER_TABLE4.items() if m in results
        ))
    return "\n".join(lines) + "\n"


def table4_csv(results: dict[str, dict[str, float]], classes: list[str]) -> str:
    """CSV of the same rows (ours, paper, difference for every column)."""
    rows = table4_rows(results, classes)
    keys = ["model"] + [f"{k}{s}" for k in [*classes, "dev", "test"] for s in ("", "_paper", "_diff")]
    out = [",".join(keys)]
    for row in rows:
        out.append(",".join(str(row["model"]) if k == "model" else ("" if math.isnan(row[k]) else f"{row[k]:.4f}") for k in keys))
    return "\n".join(out) + "\n"
