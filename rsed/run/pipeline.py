"""Running rows end to end: caches, members, the look-back chosen on validation, decisions, scores, results.

:func:`run` runs one row into a run folder and rebuilds ``results/``; :func:`run_rows` runs
several in order. Model selection uses the validation subset only; test subsets are predicted
once at the end.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from ..config import PostprocessConfig
from ..data.layout import MixtureEvent, find_mixture_sets, mixture_set
from ..errors import DataError
from ..evaluation.scoring import ClassScore, score_class
from ..inference.postprocessing import detect_all
from ..records import read_json
from .folder import _log, open_run, run_identity
from .members import _train_members, record_decision
from .predictions import _output_stem, _subset_probabilities
from .results import _write_row_record, write_results
from .rows import Experiment, RunResult
from .sources import NO_SOURCES, Sources, source_setup


def resolve_classes(root: Path, experiment: Experiment, classes: list[str] | None) -> list[str]:
    """Classes present in the training, validation and dev subsets (optionally restricted)."""
    present = None
    for subset in (experiment.train_subset, experiment.validation_subset, experiment.dev_subset):
        names = {s.class_name for s in find_mixture_sets(root, subset)}
        if not names:
            raise DataError(root, f"no mixtures of subset {subset!r} (expected data/mixture_data/{subset}/<hash>/meta/event_list_{subset}_<class>.csv)")
        present = names if present is None else present & names
    if classes:
        missing = sorted(set(classes) - present)
        if missing:
            raise DataError(root, f"class(es) {', '.join(missing)} not found in every subset; available: {', '.join(sorted(present))}")
        return list(classes)
    if not present:
        raise DataError(root, "no class has mixtures in all of the training, validation and dev subsets")
    return sorted(present)



def data_kind(root: Path) -> str:
    """'mini' when ``root`` holds the embedded synthetic data (``rsed data mini``'s marker), else 'other'."""
    from ..data.layout import SOURCE_DIR
    from ..data.mini.tree import MARKER

    return "mini" if (Path(root) / SOURCE_DIR / MARKER).is_file() else "other"


def _subsets(root: Path, experiment: Experiment, classes: list[str]) -> list[str]:
    subsets = [experiment.train_subset, experiment.validation_subset, experiment.dev_subset]
    if any(s.class_name in classes for s in find_mixture_sets(root, experiment.test_subset)):
        subsets.append(experiment.test_subset)
    return subsets


def _build_caches(root: Path, out: Path, experiment: Experiment, classes: list[str], subsets: list[str], workers: int | None, sources: Sources = NO_SOURCES) -> dict:
    """Feature caches of every (subset, class); the FNN row's under ``('baseline', subset, class)``.
    A subset of held-out recordings is read from its own data root (``sources``)."""
    from ..features.cache import build_cache

    caches = {}
    for subset in subsets:
        for c in classes:
            if subset == experiment.test_subset and not find_mixture_sets(root, subset, [c]):
                continue
            mixtures = mixture_set(sources.root_for(root, subset), subset, c)
            if experiment.architecture == "fnn":
                from ..features.baseline import extract_baseline_file

                caches["baseline", subset, c] = build_cache(mixtures, experiment.baseline_features, out / "features" / "baseline", workers=workers, extractor=extract_baseline_file)
            else:
                caches[subset, c] = build_cache(mixtures, experiment.features, out / "features", workers=workers)
    return caches


def _model_info(folder: Path, out: Path, reused: bool) -> dict:
    """A detector's entry in a row record: folder, whether this run reused it, key, training time, epochs, batches per epoch, updates, structure."""
    info = {"folder": str(folder.relative_to(out)), "reused": reused}
    path = folder / "training.json"
    if path.is_file():
        data = read_json(path)
        info.update({k: data.get(k) for k in ("key", "seconds", "epochs", "steps_per_epoch", "updates", "structure")})
    return info


def run(
    root: str | Path,
    out: str | Path,
    experiment: Experiment = Experiment(),
    classes: list[str] | None = None,
    *,
    workers: int | None = None,
    overwrite: bool = False,
) -> RunResult:
    """Run one row end to end into the run folder ``out`` and rebuild ``out/results`` (tables, scores, record).

    A row whose classes are not in the data (or not among ``classes``) is skipped: the result
    says why and nothing is written.
    """
    from ..data.layout import check_root

    root, out = check_root(root), Path(out)
    started = time.time()
    present = resolve_classes(root, experiment, classes)
    row_classes = [c for c in present if not experiment.classes or c in experiment.classes]
    if not row_classes:
        reason = f"class(es) {', '.join(experiment.classes)} not among the selected classes of the data ({', '.join(present)})"
        _log(f"row {experiment.row_id}: skipped, {reason}")
        return RunResult(out, [], row=experiment.row_id, skipped=reason)
    open_run(out, run_identity(root, experiment, classes), experiment, overwrite=overwrite)
    experiment, sources = source_setup(root, out, experiment)
    subsets = _subsets(root, experiment, row_classes)
    _log(f"row {experiment.row_id} ({experiment.name}): classes {', '.join(row_classes)}; subsets {', '.join(subsets)}; {experiment.training.schedule} schedule")
    caches = _build_caches(root, out, experiment, row_classes, subsets, workers, sources)
    result = RunResult(out, row_classes, row=experiment.row_id)
    record: dict = {"per_class": {}}
    for c in row_classes:
        folders, reused = _train_members(root, out, experiment, c, caches, overwrite=overwrite, sources=sources)
        class_record = {"members": {tag: _model_info(f, out, reused[tag]) for tag, f in folders.items()}, "scores": {}, "member_scores": {}}
        post, class_record["postprocess"] = _choose_postprocess(sources.root_for(root, experiment.validation_subset), out, experiment, c, folders, caches)
        if experiment.architecture != "fnn":  # the detectors carry the decision they were chosen for (rsed detect reads it)
            record_decision(root, experiment, c, folders, caches, post, class_record["postprocess"]["chosen_on"])
        for subset in subsets[1:]:  # validation (beside the test subsets: the gap is what generalisation costs), dev, test
            cache = caches.get(("baseline", subset, c) if experiment.architecture == "fnn" else (subset, c))
            if cache is None:
                continue
            score, member_scores = _score_subset(sources.root_for(root, subset), out, experiment, c, subset, folders, cache, post)
            result.scores.setdefault(subset, {})[c] = score
            class_record["scores"][subset] = dataclasses.asdict(score)
            for tag, member_score in member_scores.items():
                class_record["member_scores"].setdefault(tag, {})[subset] = dataclasses.asdict(member_score)
        record["per_class"][c] = class_record
    _write_row_record(result, experiment, record, time.time() - started, data_kind(root))
    write_results(out)
    return result



def _choose_postprocess(root: Path, out: Path, experiment: Experiment, class_name: str, folders: dict[str, Path], caches: dict) -> tuple[PostprocessConfig, dict]:
    """The paper's thresholds with the onset rule and look-back that do best on the validation subset (rsed/evaluation/lookback.py), and its record.

    The FNN row keeps the baseline's own post-processing; an empty ``lookback_grid`` keeps the
    default look-back and the first of ``onset_rules``.
    """
    from ..evaluation.lookback import best_trial, lookback_trials

    base = dataclasses.replace(experiment.postprocess_for(class_name), onset_rule=experiment.onset_rules[0])
    cache = caches.get((experiment.validation_subset, class_name))
    if experiment.architecture == "fnn" or not experiment.lookback_grid or cache is None:
        fixed = {"lookback_seconds": base.lookback_seconds, "chosen_on": None}
        return base, fixed if experiment.architecture == "fnn" else {**fixed, "onset_rule": base.onset_rule}
    probs, _ = _subset_probabilities(out, experiment, class_name, experiment.validation_subset, folders, cache)
    reference = mixture_set(root, experiment.validation_subset, class_name).events()
    rules, step = experiment.onset_rules, experiment.features.step_seconds
    if experiment.threshold_grid:
        from ..evaluation.lookback import best_thresholds

        best = best_thresholds(probs, reference, class_name, base, step, experiment.lookback_grid, experiment.threshold_grid, experiment.scoring, rules)
        chosen = f"t1 {best.presence_threshold:g}, t2 {best.onset_threshold:g}, {best.onset_rule} onset, look-back {best.lookback_seconds:g} s"
        _log(f"{class_name}: {chosen} (lowest error rate on {experiment.validation_subset})")
        return best, {**dataclasses.asdict(best), "chosen_on": experiment.validation_subset, "threshold_grid": list(experiment.threshold_grid), "onset_rules": list(rules)}
    trials = lookback_trials(probs, reference, class_name, base, step, experiment.lookback_grid, experiment.scoring, rules)
    chosen = best_trial(trials)
    _log(
        f"{class_name}: {chosen.onset_rule} onset, look-back {chosen.lookback_seconds:g} s (lowest error rate on {experiment.validation_subset} "
        f"among {' and '.join(rules)} with {', '.join(f'{t:g}' for t in sorted(experiment.lookback_grid))} s)"
    )
    record = {
        "lookback_seconds": chosen.lookback_seconds,
        "onset_rule": chosen.onset_rule,
        "chosen_on": experiment.validation_subset,
        "onset_rules": list(rules),
        "trials": [dataclasses.asdict(t) for t in trials],
    }
    return dataclasses.replace(base, lookback_seconds=chosen.lookback_seconds, onset_rule=chosen.onset_rule), record


def _score_subset(
    root: Path, out: Path, experiment: Experiment, class_name: str, subset: str, folders: dict[str, Path], cache: Path, post: PostprocessConfig
) -> tuple[ClassScore, dict[str, ClassScore]]:
    """Predict (or reuse) each member on a subset, average them, decide with ``post``, write the event lists and score.

    Returns the ensemble's score and, for an ensemble of several models, each member's.
    """
    from ..data.layout import write_event_list

    tags = list(folders)
    estimates = out / "estimates" / subset
    reference = mixture_set(root, subset, class_name).events()
    probs, member_probs = _subset_probabilities(out, experiment, class_name, subset, folders, cache)
    member_scores = {}
    if len(tags) > 1:
        for tag in tags:
            events = _decide(member_probs[tag], class_name, experiment, post)
            write_event_list(estimates / f"{_output_stem(experiment, class_name, [tag])}.csv", events)
            member_scores[tag] = score_class(class_name, reference, events, experiment.scoring)
    events = _decide(probs, class_name, experiment, post)
    write_event_list(estimates / f"{_output_stem(experiment, class_name, tags)}.csv", events)
    return score_class(class_name, reference, events, experiment.scoring), member_scores


def _decide(probs: dict[str, np.ndarray], class_name: str, experiment: Experiment, post: PostprocessConfig) -> list[MixtureEvent]:
    """Events from probabilities: the paper's two thresholds (``post``), or the baseline's median filter for the FNN."""
    if experiment.architecture == "fnn":
        from ..inference.baseline import baseline_detect_all

        return baseline_detect_all(probs, class_name, experiment.baseline_postprocess, experiment.baseline_features.frame_seconds)
    return detect_all(probs, class_name, post, experiment.features.step_seconds)


def run_rows(
    root: str | Path,
    out: str | Path,
    experiments: list[Experiment],
    classes: list[str] | None = None,
    *,
    workers: int | None = None,
    overwrite: bool = False,
) -> list[RunResult]:
    """Run several rows in order into one run folder (see :func:`run`)."""
    return [run(root, out, experiment, classes, workers=workers, overwrite=overwrite) for experiment in experiments]
