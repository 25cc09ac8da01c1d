"""Scoring exactly as the DCASE 2017 Task 2 challenge did (NOTES section 4), with sed_eval.

Per class one ``EventBasedMetrics`` (onset only, 500 ms collar) evaluated on every test file
of that class, including files with no reference event; the overall figure is the mean of the
per-class error rates and F-scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import ScoringConfig
from ..data.layout import MixtureEvent


@dataclass(frozen=True)
class ClassScore:
    """Event-based scores of one class: error rate, F1 (0-1) and the counts behind them."""

    class_name: str
    error_rate: float
    f_measure: float
    substitutions: int
    deletions: int
    insertions: int
    n_reference: int
    n_files: int


def _as_event_dicts(events: list[MixtureEvent]) -> list[dict]:
    return [
        {"filename": e.filename, "event_onset": float(e.onset), "event_offset": float(e.offset), "event_label": e.label}
        for e in events
        if e.has_event
    ]


def score_class(
    class_name: str,
    reference: list[MixtureEvent],
    estimated: list[MixtureEvent],
    config: ScoringConfig = ScoringConfig(),
) -> ClassScore:
    """Score one class: every reference file is evaluated, with or without events.

    ``reference`` holds one entry per test file (a no-event entry for an empty file);
    ``estimated`` holds detections, at most what the system output, keyed by filename.
    An estimate for a file missing from the reference is an error, not silently ignored.
    """
    import dcase_util
    import sed_eval

    files = [e.filename for e in reference]
    known = set(files)
    unknown = sorted({e.filename for e in estimated} - known)
    if unknown:
        raise ValueError(f"estimates name files that are not in the reference list: {unknown[:3]}")
    metrics = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=[class_name],
        evaluate_onset=config.evaluate_onset,
        evaluate_offset=config.evaluate_offset,
        t_collar=float(config.t_collar),
        percentage_of_length=float(config.percentage_of_length),
    )
    by_file_ref: dict[str, list[MixtureEvent]] = {f: [] for f in files}
    by_file_est: dict[str, list[MixtureEvent]] = {f: [] for f in files}
    for e in reference:
        if e.has_event:
            by_file_ref[e.filename].append(e)
    for e in estimated:
        if e.has_event:
            by_file_est[e.filename].append(e)
    for f in dict.fromkeys(files):
        ref = dcase_util.containers.MetaDataContainer(_as_event_dicts(by_file_ref[f]))
        est = dcase_util.containers.MetaDataContainer(_as_event_dicts(by_file_est[f]))
        metrics.evaluate(reference_event_list=ref, estimated_event_list=est)
    overall = metrics.results_overall_metrics()
    er = overall["error_rate"]
    counts = metrics.overall
    return ClassScore(
        class_name=class_name,
        error_rate=float(er["error_rate"]),
        f_measure=float(overall["f_measure"]["f_measure"]),
        substitutions=int(counts["Nsubs"]),
        deletions=int(counts["Nfn"]),
        insertions=int(counts["Nfp"]),
        n_reference=int(counts["Nref"]),
        n_files=len(set(files)),
    )


def class_average(scores: list[ClassScore]) -> tuple[float, float]:
    """Class-averaged (ER, F1), the challenge's overall figure."""
    if not scores:
        raise ValueError("no class scores to average")
    return float(np.mean([s.error_rate for s in scores])), float(np.mean([s.f_measure for s in scores]))
