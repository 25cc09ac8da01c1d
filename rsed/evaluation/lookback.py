"""The onset look-back and onset rule of each class, chosen on the validation subset (paper section 2.5).

The paper checks "a certain number of frames ... before the peak" and takes the first with
p > t2 as the onset, without the number. Too short a look-back cuts into an event whose
probability peaks late (a baby cry that gets surer burst by burst); too long a one reaches an
unrelated bump before an impulsive event and puts the onset there. Whether "the first frame"
may lie before a dip below t2 is open too (``PostprocessConfig.onset_rule``: 'earliest' or
'contiguous'). So every (rule, look-back) pair of the grids is applied to the validation clips'
probabilities and the one with the lowest error rate wins; ties (common on a small validation
set) go to the smaller mean onset error of the detections in event clips (each capped at
``ONSET_ERROR_CAP`` s), then to the rule listed first (the literal 'earliest' by default), then
to the shorter look-back. Test subsets are never used. docs/interpretation.md records the choice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import PostprocessConfig, ScoringConfig
from ..data.layout import MixtureEvent
from ..inference.postprocessing import detect_all
from .scoring import score_class

#: Onset errors (s) above this count as this much: beyond the 0.5 s collar a detection misses anyway.
ONSET_ERROR_CAP = 1.0


@dataclass(frozen=True)
class LookbackTrial:
    """How one look-back (with one onset rule) did on the validation clips: error rate and mean capped onset error (s)."""

    lookback_seconds: float
    error_rate: float
    onset_error: float
    onset_rule: str = "earliest"


def _onset_error(reference: list[MixtureEvent], estimated: list[MixtureEvent]) -> float:
    """Mean |estimated - reference onset| (s, capped) over detections in clips that hold an event; the cap when there are none."""
    onsets = {Path(e.filename).name: e.onset for e in reference if e.has_event}
    errors = [min(abs(e.onset - onsets[Path(e.filename).name]), ONSET_ERROR_CAP) for e in estimated if Path(e.filename).name in onsets]
    return float(np.mean(errors)) if errors else ONSET_ERROR_CAP


def lookback_trials(
    probs: dict[str, np.ndarray],
    reference: list[MixtureEvent],
    class_name: str,
    base: PostprocessConfig,
    step_seconds: float,
    grid: tuple[float, ...],
    scoring: ScoringConfig = ScoringConfig(),
    rules: tuple[str, ...] = ("earliest",),
) -> list[LookbackTrial]:
    """Score every onset rule of ``rules`` with every look-back of ``grid`` (s) on per-step
    probabilities ``{clip: [n_steps]}`` of the validation clips; trials in the order of ``rules``."""
    if not grid or any(not lb > 0 for lb in grid):
        raise ValueError(f"the look-back grid must hold positive seconds, got {grid}")
    if not rules:
        raise ValueError("no onset rule to try")
    trials = []
    for rule in dict.fromkeys(rules):
        for lookback in sorted(set(float(lb) for lb in grid)):
            config = dataclasses.replace(base, lookback_seconds=lookback, onset_rule=rule)
            estimated = detect_all(probs, class_name, config, step_seconds)
            score = score_class(class_name, reference, estimated, scoring)
            trials.append(LookbackTrial(lookback, score.error_rate, _onset_error(reference, estimated), rule))
    return trials


def best_trial(trials: list[LookbackTrial]) -> LookbackTrial:
    """Lowest error rate, then lowest mean onset error, then the rule tried first, then the
    shortest look-back (errors compared to 1e-9)."""
    if not trials:
        raise ValueError("no look-back trials to choose from")
    order = {rule: i for i, rule in enumerate(dict.fromkeys(t.onset_rule for t in trials))}
    return min(trials, key=lambda t: (round(t.error_rate, 9), round(t.onset_error, 9), order[t.onset_rule], t.lookback_seconds))


def best_lookback(trials: list[LookbackTrial]) -> float:
    """The look-back of :func:`best_trial`."""
    return best_trial(trials).lookback_seconds


def best_thresholds(
    probs: dict[str, np.ndarray],
    reference: list[MixtureEvent],
    class_name: str,
    base: PostprocessConfig,
    step_seconds: float,
    lookback_grid: tuple[float, ...],
    presence_grid: tuple[float, ...],
    scoring: ScoringConfig = ScoringConfig(),
    rules: tuple[str, ...] = ("earliest",),
) -> PostprocessConfig:
    """The presence threshold t1 (and t2 = min(t1, the base t2)) with its best onset rule and
    look-back, by :func:`best_trial`'s order.

    Ties between thresholds go to the one nearest the base t1.
    """
    best = None
    for t1 in sorted(set(float(t) for t in presence_grid)):
        config = dataclasses.replace(base, presence_threshold=t1, onset_threshold=min(t1, base.onset_threshold))
        trial = best_trial(lookback_trials(probs, reference, class_name, config, step_seconds, lookback_grid, scoring, rules))
        rank = (round(trial.error_rate, 9), round(trial.onset_error, 9), abs(t1 - base.presence_threshold))
        if best is None or rank < best[0]:
            best = (rank, dataclasses.replace(config, lookback_seconds=trial.lookback_seconds, onset_rule=trial.onset_rule))
    return best[1]


__all__ = ["best_thresholds", "LookbackTrial", "lookback_trials", "best_trial", "best_lookback", "ONSET_ERROR_CAP"]
