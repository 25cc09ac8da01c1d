"""A run folder's records, read by whoever needs them: ``results/rows/<row>.json``, one per finished row.

``rsed reproduce`` writes them (:mod:`rsed.run.results`); ``rsed detect`` reads the ensembles and
look-backs a run chose, and the error analysis reads the scores. Readers only, so every stage
above the base may use them.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import CacheError


def read_json(path: Path) -> dict:
    """The JSON object in ``path``; a CacheError names the file when it is unreadable or holds no object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CacheError(path, f"unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise CacheError(path, "not a JSON object")
    return data


def _row_choices(record: dict, key: str, kind: type) -> dict:
    """``{class: value}`` of one post-processing choice (``key``) that a row record holds per class."""
    values = {}
    for class_name, per_class in (record.get("per_class") or {}).items():
        value = ((per_class or {}).get("postprocess") or {}).get(key)
        if value is not None:
            values[str(class_name)] = kind(value)
    return values


def row_lookbacks(record: dict) -> dict[str, float]:
    """``{class: onset look-back in s}`` that a row record holds (records from before look-backs were chosen hold none)."""
    return _row_choices(record, "lookback_seconds", float)


def row_onset_rules(record: dict) -> dict[str, str]:
    """``{class: onset rule}`` that a row record holds (records from before the rule was chosen hold none: 'earliest' then)."""
    return _row_choices(record, "onset_rule", str)


def read_row_records(out: str | Path) -> list[dict]:
    """Every row record of a run folder, in the order the rows finished."""
    folder = Path(out) / "results" / "rows"
    records = [read_json(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return sorted(records, key=lambda r: r.get("finished", ""))
