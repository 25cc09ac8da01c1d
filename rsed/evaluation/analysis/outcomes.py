"""Per-file outcomes scored as the run was, and the scores and breakdowns built from them (see the package docstring)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ...config import ScoringConfig
from ...data.layout import MixtureEvent, mixture_set
from ...errors import DataError
from .run_folder import Run, load_estimates, load_probabilities, mixture_metadata, open_run, references

#: The per-file outcomes (package docstring), in the order :func:`~rsed.evaluation.analysis.select_clip` prefers them.
OUTCOMES = ("hit", "mislocated", "deletion", "insertion", "correct rejection")
#: Label of the event-free mixtures (no event-to-background ratio) in the EBR breakdown.
NO_EVENT = "no event"



OUTCOME_COLUMNS = [
    "file", "class", "outcome", "reference_onset", "reference_offset", "estimated_onset", "estimated_offset",
    "onset_error", "hits", "deletions", "insertions", "references", "estimates",
]


def file_outcomes(reference: list[MixtureEvent], estimated: list[MixtureEvent], class_name: str, scoring: ScoringConfig = ScoringConfig()) -> pd.DataFrame:
    """One row per reference file: its outcome, onsets (s) and sed_eval counts, scored as the run was.

    ``onset_error`` is estimated minus reference onset in seconds, where a file has both.
    Estimates for files missing from ``reference`` raise ValueError, as in scoring.
    """
    from ..scoring import score_class

    known = {e.filename for e in reference}
    unknown = sorted({e.filename for e in estimated} - known)
    if unknown:
        raise ValueError(f"estimates name files that are not in the reference list: {unknown[:3]}")
    ref_by_file: dict[str, list[MixtureEvent]] = {}
    est_by_file: dict[str, list[MixtureEvent]] = {}
    for e in reference:
        ref_by_file.setdefault(e.filename, [])
        if e.has_event:
            ref_by_file[e.filename].append(e)
    for e in estimated:
        if e.has_event:
            est_by_file.setdefault(e.filename, []).append(e)
    rows = []
    for name, refs in ref_by_file.items():
        ests = est_by_file.get(name, [])
        score = score_class(class_name, refs or [MixtureEvent(name)], ests, scoring)
        hits = score.n_reference - score.deletions - score.substitutions
        if score.n_reference:
            outcome = "hit" if hits == score.n_reference else ("mislocated" if score.insertions else "deletion")
        else:
            outcome = "insertion" if score.insertions else "correct rejection"
        ref, est = (refs[0] if refs else None), (ests[0] if ests else None)
        rows.append(
            {
                "file": name,
                "class": class_name,
                "outcome": outcome,
                "reference_onset": ref.onset if ref else math.nan,
                "reference_offset": ref.offset if ref else math.nan,
                "estimated_onset": est.onset if est else math.nan,
                "estimated_offset": est.offset if est else math.nan,
                "onset_error": est.onset - ref.onset if ref and est else math.nan,
                "hits": hits,
                "deletions": score.deletions + score.substitutions,
                "insertions": score.insertions,
                "references": score.n_reference,
                "estimates": len(ests),
            }
        )
    return pd.DataFrame(rows, columns=OUTCOME_COLUMNS)


def run_outcomes(run: Run | str | Path, subset: str | None = None, root: str | Path | None = None, classes: list[str] | None = None) -> pd.DataFrame:
    """Per-file outcomes of every class of a run on ``subset`` (default: the dev subset).

    Adds ``subset``, ``peak_probability`` (the clip's highest ensemble probability) and, with the
    data ``root``, ``scene``, ``ebr`` (dB, NaN for event-free mixtures), ``event_length`` (s) and
    ``background`` from the mixture recipes.
    """
    run = run if isinstance(run, Run) else open_run(run)
    subset = subset or run.subsets[0]
    if subset not in run.scores:
        raise DataError(run.folder / "results" / "scores.json", f"the run scored no subset {subset!r}; it has {', '.join(run.subsets)}")
    tables = []
    for class_name in classes or run.classes(subset):
        table = file_outcomes(references(run, subset, class_name, root), load_estimates(run, subset, class_name), class_name, run.scoring)
        probs = load_probabilities(run, subset, class_name)
        table["peak_probability"] = [float(np.max(probs[f])) if f in probs else math.nan for f in table["file"]]
        if root is not None:
            meta = mixture_metadata(root, subset, class_name)
            missing = sorted(set(table["file"]) - set(meta["file"]))
            if missing:
                raise DataError(mixture_set(root, subset, class_name).recipes_path, f"has no recipe for {missing[0]} (and {len(missing) - 1} more)")
            table = table.merge(meta, on="file", how="left")
        tables.append(table)
    out = pd.concat(tables, ignore_index=True)
    out.insert(2, "subset", subset)
    return out


def _scores(group: pd.DataFrame) -> dict:
    """ER and F1 of a group of per-file rows, with sed_eval's own metric definitions."""
    import sed_eval

    n_ref, hits = int(group["references"].sum()), int(group["hits"].sum())
    deletions, insertions, n_sys = int(group["deletions"].sum()), int(group["insertions"].sum()), int(group["estimates"].sum())
    precision = sed_eval.metric.precision(Ntp=hits, Nsys=n_sys)
    recall = sed_eval.metric.recall(Ntp=hits, Nref=n_ref)
    return {
        "files": len(group),
        "references": n_ref,
        "hits": hits,
        "deletions": deletions,
        "insertions": insertions,
        "error_rate": (deletions + insertions) / n_ref if n_ref else math.nan,
        "f_measure": sed_eval.metric.f_measure(precision, recall) if n_ref else math.nan,
    }


def class_scores(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per-class ER and F1 from per-file outcomes: the run's ``results/scores.json`` values."""
    return pd.DataFrame([{"class": c, **_scores(g)} for c, g in outcomes.groupby("class", sort=True)]).set_index("class")


def breakdown(outcomes: pd.DataFrame, by: str) -> pd.DataFrame:
    """ER and F1 per class and value of ``by`` (``"ebr"`` or ``"scene"``); rows indexed by (class, by).

    ER is (deletions + insertions) / references of the group. The event-free mixtures have no
    EBR: they form the group :data:`NO_EVENT`, which has no ER and no F1 (NaN), only insertions.
    """
    if by not in outcomes.columns:
        raise KeyError(f"no column {by!r} in the outcomes; run_outcomes(..., root=DATA_ROOT) adds 'ebr' and 'scene'")
    rows = []
    for (class_name, value), group in outcomes.groupby(["class", by], sort=True, dropna=False):
        label = NO_EVENT if isinstance(value, float) and math.isnan(value) else value
        rows.append({"class": class_name, by: label, **_scores(group)})
    return pd.DataFrame(rows).set_index(["class", by])


def check_scores(run: Run, outcomes: pd.DataFrame) -> str:
    """Check that the per-class scores recomputed from ``outcomes`` are the run's recorded ones.

    Returns a one-line confirmation; raises DataError naming ``results/scores.json`` and the
    first difference otherwise (counts exactly, ER and F1 to 1e-9, NaN equal to NaN).
    """
    subset = str(outcomes["subset"].iloc[0])
    ours, recorded = class_scores(outcomes), recorded_scores(run, subset)
    where = run.folder / "results" / "scores.json"
    if sorted(ours.index) != sorted(recorded.index):
        raise DataError(where, f"classes differ: recomputed {sorted(ours.index)}, recorded {sorted(recorded.index)}")
    for class_name in recorded.index:
        for column in recorded.columns:
            a, b = float(ours.loc[class_name, column]), float(recorded.loc[class_name, column])
            if not (math.isclose(a, b, rel_tol=0, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))):
                raise DataError(where, f"{subset}/{class_name} {column}: recomputed {a}, recorded {b}")
    return f"per-class scores agree with results/scores.json ({subset}: {', '.join(recorded.index)})"


def onset_errors(outcomes: pd.DataFrame) -> pd.Series:
    """Estimated minus reference onset (s) of every file with both (hits and mislocated events)."""
    return outcomes["onset_error"].dropna()


def worst_files(outcomes: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` files with the most errors, the most confident mistakes first.

    Severity: errors (deletions + insertions) plus a tie-break in [0, 1): the peak probability
    of an insertion, one minus it for a deletion, the onset error (capped at 10 s) of a
    mislocated event.
    """
    errors = outcomes["deletions"] + outcomes["insertions"]
    peak = outcomes["peak_probability"].fillna(0.5).clip(0, 1)
    tie = np.select(
        [outcomes["outcome"] == "insertion", outcomes["outcome"] == "deletion", outcomes["outcome"] == "mislocated"],
        [peak, 1 - peak, outcomes["onset_error"].abs().clip(upper=10) / 10],
        default=0.0,
    )
    ranked = outcomes.assign(errors=errors, severity=errors + 0.999 * tie)
    ranked = ranked[ranked["errors"] > 0].sort_values(["severity", "file"], ascending=[False, True])
    return ranked.head(n).reset_index(drop=True)



def recorded_scores(run: Run, subset: str | None = None) -> pd.DataFrame:
    """The per-class scores the run wrote to ``results/scores.json`` (same columns as :func:`class_scores`)."""
    subset = subset or run.subsets[0]
    rows = []
    for class_name, s in sorted(run.scores[subset].items()):
        rows.append(
            {
                "class": class_name,
                "files": s["n_files"],
                "references": s["n_reference"],
                "hits": s["n_reference"] - s["deletions"] - s["substitutions"],
                "deletions": s["deletions"] + s["substitutions"],
                "insertions": s["insertions"],
                "error_rate": s["error_rate"],
                "f_measure": s["f_measure"],
            }
        )
    return pd.DataFrame(rows).set_index("class")
