"""Error analysis of a finished run: per-file outcomes, breakdowns by EBR and scene, worst files, Figure 4.

Pure functions over a run folder written by :func:`rsed.reproduce.run` (``results/scores.json``,
``estimates/``, ``predictions/``, ``features/``) and, for the event-to-background ratio and the
scene of each mixture, the data root's mixture recipes. Nothing here loads a model, so the
notebooks start without TensorFlow.

Per-file outcomes are scored by :func:`rsed.evaluation.score_class` (sed_eval, onset only,
500 ms collar) one file at a time, so their sums are the run's scores exactly:

=================== ===================================================== ==========================
outcome             meaning                                               counts
=================== ===================================================== ==========================
hit                 reference event, estimated onset within the collar    1 true positive
deletion            reference event, nothing estimated                    1 deletion
mislocated          reference event, estimate outside the collar          1 deletion + 1 insertion
insertion           no reference event, an event estimated                1 insertion
correct rejection   no reference event, nothing estimated                 nothing
=================== ===================================================== ==========================
"""

from __future__ import annotations

import json
import math
import re
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .config import FeatureConfig, PostprocessConfig, ScoringConfig, from_dict, paper_postprocess
from .data.layout import MixtureEvent, mixture_set, read_event_list, read_recipes
from .errors import CacheError, DataError

#: The per-file outcomes (module docstring), in the order :func:`select_clip` prefers them.
OUTCOMES = ("hit", "mislocated", "deletion", "insertion", "correct rejection")
#: Label of the event-free mixtures (no event-to-background ratio) in the EBR breakdown.
NO_EVENT = "no event"


@dataclass(frozen=True)
class Run:
    """One finished row of a run folder: its experiment and its scores (``results/rows/<row>.json``)."""

    folder: Path
    experiment: dict
    scores: dict
    row: str = ""
    #: Onset look-back (s) per class as the run chose it on the validation subset (rsed/lookback.py).
    lookbacks: dict = field(default_factory=dict)

    @property
    def features(self) -> FeatureConfig:
        return from_dict(FeatureConfig, self.experiment["features"])

    @property
    def scoring(self) -> ScoringConfig:
        return from_dict(ScoringConfig, self.experiment.get("scoring", {}))

    @property
    def architecture(self) -> str:
        return str(self.experiment["architecture"])

    @property
    def subsets(self) -> list[str]:
        """Scored subsets, the dev subset first."""
        dev = self.experiment.get("dev_subset")
        return sorted(self.scores, key=lambda s: (s != dev, s))

    def classes(self, subset: str | None = None) -> list[str]:
        return sorted(self.scores[subset or self.subsets[0]])

    def timesteps(self, class_name: str) -> tuple[int, ...]:
        """The timestep ensemble the run used for ``class_name``."""
        table = {str(c): tuple(t) for c, t in self.experiment.get("timesteps", [])}
        return tuple(table.get(class_name, self.experiment.get("default_timesteps", ())))

    def postprocess(self, class_name: str) -> PostprocessConfig:
        """The thresholds the run applied: the paper's t1 per class, t2 = 0.5, and the look-back it chose."""
        base = paper_postprocess(class_name)
        lookback = self.lookbacks.get(class_name)
        return base if lookback is None else dataclasses.replace(base, lookback_seconds=float(lookback))

    def output_stem(self, class_name: str) -> str:
        """``<class>_<architecture>_t<tau>[+t<tau>...]``: the name of its predictions and estimates."""
        return f"{class_name}_{self.architecture}_" + "+".join(f"t{t}" for t in self.timesteps(class_name))

    def predictions_path(self, subset: str, class_name: str) -> Path:
        return self.folder / "predictions" / subset / f"{self.output_stem(class_name)}.npz"

    def estimates_path(self, subset: str, class_name: str) -> Path:
        return self.folder / "estimates" / subset / f"{self.output_stem(class_name)}.csv"


#: Rows an analysis reads by default, best first; otherwise the latest finished CRNN or CNN row.
PREFERRED_ROWS = ("crnn", "crnn_demo")


def choose_row(records: list[dict], row: str | None = None) -> dict:
    """The row record to analyse: ``row`` by name, else the Table 4 CRNN, the demo CRNN, or the latest CRNN/CNN row.

    The FNN row is analysed only by name: its predictions are per frame, not per step.
    """
    by_name = {str(r.get("row")): r for r in records}
    if row is not None:
        if row not in by_name:
            raise ValueError(f"the run has no row {row!r}; it has {', '.join(by_name) or 'none'}")
        return by_name[row]
    for name in PREFERRED_ROWS:
        if name in by_name:
            return by_name[name]
    steps = [r for r in records if r.get("architecture") in ("crnn", "cnn")]
    if not steps:
        raise ValueError(f"the run has no CRNN or CNN row; it has {', '.join(by_name) or 'none'}")
    return steps[-1]


def open_run(folder: str | Path, row: str | None = None) -> Run:
    """Read one finished row of a run folder (``results/rows/<row>.json``, see :func:`choose_row`).

    A DataError names what is missing; a CacheError names an unreadable record file.
    """
    from .records import read_row_records, row_lookbacks

    folder = Path(folder)
    rows = folder / "results" / "rows"
    if not (folder / "results" / "scores.json").is_file() or not rows.is_dir():
        raise DataError(folder, "not a finished run (no results/scores.json); run `rsed reproduce` or `make demo` first")
    try:
        record = choose_row(read_row_records(folder), row)
        experiment = record["experiment"]
        scores: dict = {}
        for class_name, per_class in record["per_class"].items():
            for subset, score in per_class["scores"].items():
                scores.setdefault(subset, {})[class_name] = score
        lookbacks = row_lookbacks(record)
        from_dict(FeatureConfig, experiment["features"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(rows, f"no usable row record ({exc})") from None
    return Run(folder, experiment, scores, str(record.get("row", "")), lookbacks)


# ----------------------------------------------------------------------------------------
# What a run saved about each clip
# ----------------------------------------------------------------------------------------


def feature_cache(run: Run, subset: str, class_name: str, root: str | Path | None = None) -> Path:
    """The run's HDF5 feature cache of ``subset``/``class_name`` (the data root picks it when several exist)."""
    from .features import cache_path

    if root is not None:
        path = cache_path(mixture_set(root, subset, class_name), run.features, run.folder / "features")
        if not path.is_file():
            raise CacheError(path, "the run has no feature cache of these mixtures (another data root?)")
        return path
    pattern = re.compile(rf"^features_{re.escape(subset)}_{re.escape(class_name)}_[0-9A-Za-z]+_{run.features.key()}\.h5$")
    found = sorted(p for p in (run.folder / "features").glob("features_*.h5") if pattern.match(p.name))
    if len(found) != 1:
        what = "no feature cache" if not found else f"{len(found)} feature caches"
        raise CacheError(run.folder / "features", f"{what} of {subset}/{class_name}; pass the data root to choose")
    return found[0]


def _clip_group(handle, filename: str, path: Path):
    group = handle["clips"].get(Path(filename).stem)
    if group is None:
        raise CacheError(path, f"holds no clip {filename}")
    return group


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def cache_references(cache: str | Path) -> list[MixtureEvent]:
    """The reference event list stored in a feature cache (one entry per clip, filename order)."""
    from .features import open_cache

    events = []
    with open_cache(cache) as handle:
        for name in sorted(handle["clips"]):
            attrs = handle["clips"][name].attrs
            onset = float(attrs["onset"])
            if math.isnan(onset):
                events.append(MixtureEvent(_text(attrs["filename"])))
            else:
                events.append(MixtureEvent(_text(attrs["filename"]), onset, float(attrs["offset"]), _text(attrs["label"])))
    return events


def load_logmel(run: Run, subset: str, class_name: str, filename: str, root: str | Path | None = None) -> np.ndarray:
    """A clip's log-mel spectrogram ``[frames, n_mels]`` (dB) from the run's feature cache."""
    from .features import open_cache

    cache = feature_cache(run, subset, class_name, root)
    with open_cache(cache) as handle:
        return np.asarray(_clip_group(handle, filename, cache)["logmel"][()], dtype=np.float32)


def load_probabilities(run: Run, subset: str, class_name: str) -> dict[str, np.ndarray]:
    """Every clip's per-step ensemble probabilities ``{filename: [S]}`` that the run saved."""
    path = run.predictions_path(subset, class_name)
    if not path.is_file():
        raise CacheError(path, "the run saved no predictions for this subset and class")
    with np.load(path) as data:
        return {name: np.asarray(data[name]) for name in data.files if name != "__key__"}


def load_estimates(run: Run, subset: str, class_name: str) -> list[MixtureEvent]:
    """The event list the run wrote (detected events only)."""
    return read_event_list(run.estimates_path(subset, class_name))


def references(run: Run, subset: str, class_name: str, root: str | Path | None = None) -> list[MixtureEvent]:
    """The reference list the run was scored against: the data root's event list, or the cache's copy of it."""
    if root is not None:
        return mixture_set(root, subset, class_name).events()
    return cache_references(feature_cache(run, subset, class_name))


def mixture_metadata(root: str | Path, subset: str, class_name: str) -> pd.DataFrame:
    """Scene and event-to-background ratio of every mixture, from the recipes beside its event list.

    Columns: ``file``, ``scene`` (the background's class, or its folder), ``ebr`` (dB, NaN
    without an event), ``event_length`` (s), ``background`` (path relative to the data root).
    """
    rows = []
    for recipe in read_recipes(mixture_set(root, subset, class_name).recipes_path):
        bg = str(recipe.get("bg_path", ""))
        present = bool(recipe.get("event_present", False))
        rows.append(
            {
                "file": str(recipe["mixture_audio_filename"]),
                "scene": str(recipe.get("bg_classname") or Path(bg).parent.name or "unknown"),
                "ebr": float(recipe["ebr"]) if present and "ebr" in recipe else math.nan,
                "event_length": float(recipe["event_length_seconds"]) if present and "event_length_seconds" in recipe else math.nan,
                "background": bg,
            }
        )
    return pd.DataFrame(rows, columns=["file", "scene", "ebr", "event_length", "background"])


# ----------------------------------------------------------------------------------------
# Outcomes and scores
# ----------------------------------------------------------------------------------------

OUTCOME_COLUMNS = [
    "file", "class", "outcome", "reference_onset", "reference_offset", "estimated_onset", "estimated_offset",
    "onset_error", "hits", "deletions", "insertions", "references", "estimates",
]


def file_outcomes(reference: list[MixtureEvent], estimated: list[MixtureEvent], class_name: str, scoring: ScoringConfig = ScoringConfig()) -> pd.DataFrame:
    """One row per reference file: its outcome, onsets (s) and sed_eval counts, scored as the run was.

    ``onset_error`` is estimated minus reference onset in seconds, where a file has both.
    Estimates for files missing from ``reference`` raise ValueError, as in scoring.
    """
    from .evaluation import score_class

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


# ----------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------


def clip_figure(run: Run | str | Path, subset: str, class_name: str, filename: str, root: str | Path | None = None):
    """The paper's Figure 4 for one clip of a run: its saved probabilities, the run's thresholds,
    the reference and detected onsets, above its log-mel (a matplotlib Figure)."""
    from .plots import figure4

    run = run if isinstance(run, Run) else open_run(run)
    probs = load_probabilities(run, subset, class_name)
    if filename not in probs:
        raise DataError(run.predictions_path(subset, class_name), f"holds no clip {filename}")
    ref = next((e for e in references(run, subset, class_name, root) if e.filename == filename), None)
    est = next((e for e in load_estimates(run, subset, class_name) if e.filename == filename and e.has_event), None)
    post = run.postprocess(class_name)
    feats = run.features
    return figure4(
        probs[filename],
        feats.step_seconds,
        load_logmel(run, subset, class_name, filename, root),
        post.presence_threshold,
        post.onset_threshold,
        ref.onset if ref is not None and ref.has_event else None,
        est.onset if est is not None else None,
        frame_seconds=feats.frame_seconds,
        label=class_name,
        title=f"{subset}/{filename}",
    )


def select_clip(outcomes: pd.DataFrame, class_name: str | None = None, file: str | None = None) -> tuple[str, str, str]:
    """``(subset, class, file)`` of one clip of ``outcomes``: ``file`` when given, else one worth showing
    (a hit if there is one, else a mislocated event, a deletion, an insertion; first by name)."""
    rows = outcomes if class_name is None else outcomes[outcomes["class"] == class_name]
    if file is not None:
        rows = rows[rows["file"] == file]
    if rows.empty:
        wanted = ", ".join(f"{k} {v!r}" for k, v in (("class", class_name), ("file", file)) if v is not None)
        raise DataError(None, f"no clip with {wanted} in these outcomes")
    rank = {name: i for i, name in enumerate(OUTCOMES)}
    best = rows.assign(_rank=rows["outcome"].map(rank)).sort_values(["_rank", "class", "file"]).iloc[0]
    return str(best["subset"]), str(best["class"]), str(best["file"])


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


def onset_error_figure(outcomes: pd.DataFrame, collar: float = 0.5):
    """Histogram of the onset errors of ``outcomes`` with the scoring collar (a matplotlib Figure)."""
    from .plots import onset_error_histogram

    return onset_error_histogram(onset_errors(outcomes).to_numpy(), collar)
