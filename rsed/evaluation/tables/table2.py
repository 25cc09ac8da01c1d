"""Table 2: each class's timestep ensemble, with the ER and F1 of every member model and of the
ensemble (the paper lists the ensembles only and prints no scores for them). Rows of the paper's
configuration only: an ablation or a row beyond the paper is no Table 2 ensemble."""

from __future__ import annotations

import math

from ...config import PAPER_TIMESTEPS
from .common import classes_of, fmt, nan_or, pct, row_kind, scored_subsets, title_suffix, to_csv


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
    crnn = [r for r in records if r.get("architecture") == "crnn" and not row_kind(r)]
    dev, test = scored_subsets(crnn)
    entries = []
    for c in classes_of(crnn):
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
    title = f"Table 2: timestep ensembles per class; ER and F1 on {dev} (dev)" + ("" if test == dev else f" and {test} (test)") + title_suffix(crnn)
    return {"dev": dev, "test": test, "title": title, "classes": entries}


def _line(model: str, scores: dict, dev: str, test: str) -> dict:
    def pair(subset):
        s = scores.get(subset) or {}
        return (nan_or(s.get("error_rate")), nan_or(s.get("f_measure")))

    return {"model": model, "dev": pair(dev), "test": pair(test)}


def render_table2(table: dict) -> str:
    """Markdown in the paper's Table 2 layout (target event, timestep ensemble), our scores beside."""
    with_test = table["test"] != table["dev"]
    headers = ["Target event", "Timestep ensemble", "Paper", "Model", "ER dev", "F1 dev"] + (["ER test", "F1 test"] if with_test else [])
    lines = [f"**{table['title']}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for entry in table["classes"]:
        for i, line in enumerate(entry["lines"] or [{"model": "-", "dev": (math.nan, math.nan), "test": (math.nan, math.nan)}]):
            head = [entry["class"].capitalize(), entry["ours"], entry["paper"]] if i == 0 else ["", "", ""]
            cells = head + [line["model"], fmt(line["dev"][0]), pct(line["dev"][1])]
            if with_test:
                cells += [fmt(line["test"][0]), pct(line["test"][1])]
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
    return to_csv(rows)
