"""Table 3: the CRNN hyperparameters per class as the paper prints them, ours beside the paper's,
then the settings and scores of every row of this run.

The first part keeps the paper's layout (parameters down, classes across: N_c, N_r, tau, lr,
lrd, the epochs and patience of its caption, and the presence threshold t1 of its section 2.5)
for the rows of the paper's configuration, with what the paper leaves open below: the hop and
frames per step of the features, the batches of an epoch, the share of event windows per batch,
the prior correction and the onset rule. The second part gives one line per CRNN or CNN row
(an ablation and a row beyond the paper labelled so): those settings, the onset rule and
look-back chosen per class, the optimizer updates, and the ER on validation and test subsets.
"""

from __future__ import annotations

import math

from ...config import PAPER_PRESENCE_THRESHOLDS, PAPER_TIMESTEPS
from .common import classes_of, fmt, nan_or, row_kind, scored_subsets, title_suffix, to_csv, validation_subset

#: Table 3 of the paper (and its caption: "at least 100 epochs ... patience of 15 epochs"), per
#: class; what the paper does not state is '-' (our value is then shown alone).
PAPER_TABLE3 = {
    "N_c": {c: 2 for c in PAPER_TIMESTEPS},
    "N_r": {c: 2 for c in PAPER_TIMESTEPS},
    "timesteps (τ)": {c: ", ".join(map(str, t)) for c, t in PAPER_TIMESTEPS.items()},
    "lr": {c: "0.001" for c in PAPER_TIMESTEPS},
    "lrd": {c: "0.01" for c in PAPER_TIMESTEPS},
    "min. epochs": {c: 100 for c in PAPER_TIMESTEPS},
    "patience": {c: 15 for c in PAPER_TIMESTEPS},
    "presence threshold t1": {c: f"{t:g}" for c, t in PAPER_PRESENCE_THRESHOLDS.items()},
    "hop (samples)": {},
    "frames per step": {},
    "batches per epoch": {},
    "positive fraction": {},
    "prior correction": {},
    "onset rule": {},
}


def _join(values) -> str:
    """Distinct values in first-seen order, joined by ', ' ('-' for none)."""
    return ", ".join(dict.fromkeys(str(v) for v in values)) or "-"


def _training(record: dict, config: dict) -> dict:
    """The training a row's detectors got (records of older runs: the run's shared training)."""
    return record.get("training") or config.get("training", {})


def _epoch_text(training: dict) -> str:
    steps = training.get("steps_per_epoch", "-")
    return "one pass" if steps is None else str(steps)


def _fraction_text(training: dict) -> str:
    value = training.get("positive_fraction")
    return "-" if value is None else "0 (natural)" if value == 0 else f"{value:g}"


def _correction_text(training: dict) -> str:
    value = training.get("prior_correction")
    return "-" if value is None else "yes" if value and training.get("positive_fraction") != 0 else "no"


def _rule_setting(record: dict) -> str:
    rules = record.get("onset_rules") or []
    if len(rules) == 1:
        return f"{rules[0]} (fixed)"
    return f"chosen on {validation_subset(record) or 'validation'}" if rules else "earliest"


def build_table3(records: list[dict], config: dict) -> dict:
    """Table 3 from row records and the run configuration.

    Returns ``{'title', 'classes', 'rows': [(parameter, {class: (ours, paper)})], 'per_row':
    {'classes', 'dev', 'test', 'validation', 'lines': [{'row', 'kind', 'settings': {...},
    'per_class': {class: {...}}}]}}``. The first part describes the paper's configuration (rows
    without a recipe; all CRNN rows if there are none): per class the taus of every CRNN model
    trained, N_c and N_r counted on the built model, and the training settings.
    """
    crnn = [r for r in records if r.get("architecture") == "crnn"]
    paper_rows = [r for r in crnn if not row_kind(r)] or crnn
    classes = classes_of(paper_rows)
    ours: dict[str, dict[str, str]] = {p: {} for p in PAPER_TABLE3}
    for c in classes:
        rows = [r for r in paper_rows if c in r["classes"]]
        taus = sorted({t for r in rows for t in r["timesteps"][c]})
        structure = next((m.get("structure") for r in rows for m in r["per_class"][c]["members"].values() if m.get("structure")), None) or {}
        trainings = [_training(r, config) for r in rows]
        features = [(r.get("experiment") or {}).get("features") or {} for r in rows]
        ours["N_c"][c] = structure.get("n_conv", "-")
        ours["N_r"][c] = structure.get("n_recurrent", "-")
        ours["timesteps (τ)"][c] = ", ".join(map(str, taus)) or "-"
        ours["lr"][c] = _join(f"{t['learning_rate']:g}" for t in trainings if "learning_rate" in t)
        ours["lrd"][c] = _join(f"{t['decay']:g}" for t in trainings if "decay" in t)
        ours["min. epochs"][c] = _join(t["min_epochs"] for t in trainings if "min_epochs" in t)
        ours["patience"][c] = _join(t["patience"] for t in trainings if "patience" in t)
        ours["presence threshold t1"][c] = f"{PAPER_PRESENCE_THRESHOLDS.get(c, 0.5):g}"
        ours["hop (samples)"][c] = _join(f.get("hop_length", "-") for f in features)
        ours["frames per step"][c] = _join(f.get("frames_per_step", "-") for f in features)
        ours["batches per epoch"][c] = _join(_epoch_text(t) for t in trainings)
        ours["positive fraction"][c] = _join(_fraction_text(t) for t in trainings)
        ours["prior correction"][c] = _join(_correction_text(t) for t in trainings)
        ours["onset rule"][c] = _join(_rule_setting(r) for r in rows)
    table = [(p, {c: (str(ours[p][c]), str(PAPER_TABLE3[p].get(c, "-"))) for c in classes}) for p in PAPER_TABLE3]
    title = "Table 3: CRNN hyperparameters per class" + title_suffix(crnn)
    return {"title": title, "classes": classes, "rows": table, "per_row": _per_row(records, config)}


def _per_row(records: list[dict], config: dict) -> dict:
    """The second part of Table 3: one line per CRNN or CNN row."""
    steps = [r for r in records if r.get("architecture") in ("crnn", "cnn")]
    dev, test = scored_subsets(steps)
    lines = []
    for r in steps:
        training = _training(r, config)
        features = (r.get("experiment") or {}).get("features") or {}
        per_class = {}
        for c in r["classes"]:
            pc = r["per_class"][c]
            post = pc.get("postprocess") or {}
            scores = pc.get("scores") or {}
            per_class[c] = {
                "onset rule": post.get("onset_rule", "earliest" if post else "-"),
                "look-back (s)": "-" if post.get("lookback_seconds") is None else f"{post['lookback_seconds']:g}",
                "updates": "+".join(str(m.get("updates")) for m in pc["members"].values() if m.get("updates") is not None) or "-",
                "validation": nan_or((scores.get(validation_subset(r)) or {}).get("error_rate")),
                "dev": nan_or((scores.get(dev) or {}).get("error_rate")),
                "test": nan_or((scores.get(test) or {}).get("error_rate")),
            }
        settings = {
            "model": r.get("architecture", "").upper(),
            "hop": str(features.get("hop_length", "-")),
            "frames/step": str(features.get("frames_per_step", "-")),
            "positive fraction": _fraction_text(training),
            "prior correction": _correction_text(training),
            "batches/epoch": _epoch_text(training),
        }
        lines.append({"row": r["row"], "kind": row_kind(r), "validation": validation_subset(r), "settings": settings, "per_class": per_class})
    validation = sorted({line["validation"] for line in lines} - {None})
    return {"classes": classes_of(steps), "dev": dev, "test": test, "validation": validation, "lines": lines}


#: The per-class columns of the second part (after the shared settings), with their value keys.
PER_CLASS = (("updates", "updates"), ("onset rule", "onset rule"), ("look-back (s)", "look-back (s)"))


def _score_columns(part: dict) -> list[tuple[str, str]]:
    val = part["validation"][0] if len(part["validation"]) == 1 else "val."
    columns = [(f"ER {val} (val.)", "validation"), (f"ER {part['dev']}", "dev")]
    return columns + ([(f"ER {part['test']}", "test")] if part["test"] != part["dev"] else [])


def _cell(line: dict, classes: list[str], key: str) -> str:
    values = []
    for c in classes:
        value = line["per_class"].get(c, {}).get(key)
        values.append("-" if value is None else fmt(value) if isinstance(value, float) else str(value))
    return " / ".join(values)


def render_table3(table: dict) -> str:
    """Markdown: the paper's Table 3 layout (``ours (paper: x)`` where they differ), then one line per row."""
    headers = ["Parameters", *[c.capitalize() for c in table["classes"]]]
    lines = [f"**{table['title']}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for parameter, cells in table["rows"]:
        values = [ours if paper in (ours, "-") else f"{ours} (paper: {paper})" for ours, paper in (cells[c] for c in table["classes"])]
        lines.append("| " + " | ".join([parameter, *values]) + " |")
    lines += ["", "N_c, N_r: convolutional and recurrent layers; lr: learning rate; lrd: learning rate decay. "
              "Epochs and patience are from the paper's caption, t1 from its section 2.5; the paper does not state the parameters below t1."]
    part = table.get("per_row") or {}
    if part.get("lines"):
        shared = list(part["lines"][0]["settings"])
        scores = _score_columns(part)
        headers = ["Row", *shared, *(h for h, _ in PER_CLASS), *(h for h, _ in scores)]
        lines += ["", f"**Per row** (per-class cells: {' / '.join(part['classes'])})", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        for line in part["lines"]:
            label = line["row"] + (f" ({line['kind']})" if line["kind"] else "")
            cells = [line["settings"][k] for k in shared] + [_cell(line, part["classes"], key) for _, key in (*PER_CLASS, *scores)]
            lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines) + "\n"


def table3_csv(table: dict) -> str:
    """CSV of both parts: ``section,row,parameter,class,ours,paper``; section 'table3' is the paper's
    layout (row empty), section 'rows' one line per (row, setting or score, class) (class empty
    for a setting shared by the row's classes)."""
    out = [["section", "row", "parameter", "class", "ours", "paper"]]
    for parameter, cells in table["rows"]:
        out += [["table3", "", parameter, c, *cells[c]] for c in table["classes"]]
    part = table.get("per_row") or {}
    for line in part.get("lines", []):
        out += [["rows", line["row"], key, "", value, ""] for key, value in line["settings"].items()]
        for heading, key in (*PER_CLASS, *_score_columns(part)):
            for c, values in line["per_class"].items():
                value = values.get(key)
                text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}" if isinstance(value, float) else str(value)
                out.append(["rows", line["row"], heading, c, text, ""])
    return to_csv(out)
