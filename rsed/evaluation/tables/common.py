"""What every table shares: the paper's Table 4, number formats, and what a run's row records say
about subsets, classes and rows (which rows belong to the paper's configuration, and whether our
numbers may be subtracted from the paper's)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math

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


def fmt(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def fmt_diff(value: float) -> str:
    return "" if math.isnan(value) else f" ({value:+.2f})"


def nan_or(value) -> float:
    return math.nan if value is None else float(value)


def pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f} %"


def to_csv(rows: list[list]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def title_suffix(records: list[dict]) -> str:
    schedules = sorted({r.get("schedule", "paper") for r in records})
    return "" if schedules in ([], ["paper"]) else f"; {', '.join(schedules)} schedule"


def scored_subsets(records: list[dict]) -> tuple[str, str]:
    """(dev, test) subset names of the records; test is dev when the data has no evaluation set."""
    for r in records:
        return r["subsets"]["dev"], r["subsets"]["test"]
    return "devtest", "devtest"


def classes_of(records: list[dict]) -> list[str]:
    return sorted({c for r in records for c in r["classes"]})


def comparable(records: list[dict]) -> bool:
    """Whether our numbers may be subtracted from the paper's: the same subsets (devtest for 'dev',
    the DCASE evaluation set for 'test'). Never on the embedded mini data (synthetic, whatever its
    subsets are called), nor on a root without ``evaltest``."""
    return bool(records) and all(r.get("data") != "mini" and r["subsets"]["test"] == "evaltest" != r["subsets"]["dev"] for r in records)


def why_not_comparable(records: list[dict]) -> str:
    """Why :func:`comparable` is False, in words for a table title."""
    if any(r.get("data") == "mini" for r in records):
        return "the mini data is synthetic, not DCASE 2017"
    return "the data has no evaltest, the paper's test set"


def _beyond_paper(experiment: dict) -> bool:
    """:attr:`rsed.run.rows.Experiment.beyond_paper` of a row record's experiment (plain JSON):
    augmentation or validation other than the defaults, or a threshold grid."""
    from ...config import AugmentConfig, ValidationConfig

    for field, default in (("augment", AugmentConfig()), ("validation", ValidationConfig())):
        plain = json.loads(json.dumps(dataclasses.asdict(default)))
        if experiment.get(field, plain) != plain:
            return True
    return bool(experiment.get("threshold_grid"))


def row_kind(record: dict) -> str:
    """'' for a row of the paper's configuration; else 'beyond the paper' (a training recipe of
    its own: augmentation, its own validation or a threshold grid, whatever its schedule) or
    'ablation' (a row that only changes training switches of the paper's rows)."""
    if not record.get("recipe"):
        return ""
    experiment = record.get("experiment") or {}
    if _beyond_paper(experiment) or not experiment.get("training_changes"):
        return "beyond the paper"
    return "ablation"


def validation_subset(record: dict) -> str | None:
    return (record.get("subsets") or {}).get("validation")


def average_er(record: dict, subset: str | None) -> float:
    """The row's class-averaged ER on ``subset`` (NaN when it was not scored)."""
    return nan_or((record.get("class_average") or {}).get(subset, {}).get("error_rate")) if subset else math.nan
