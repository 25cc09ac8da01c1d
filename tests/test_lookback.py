"""Choosing the onset look-back on validation clips (rsed/evaluation/lookback.py), on hand-made probability curves.

Steps of 0.1 s; the class is gunshot (t1 = 0.5). Each curve is background 0.1 with a few raised stretches.
"""

import dataclasses

import numpy as np
import pytest

from rsed.config import paper_postprocess
from rsed.data.layout import MixtureEvent
from rsed.evaluation.lookback import ONSET_ERROR_CAP, LookbackTrial, best_lookback, best_thresholds, best_trial, lookback_trials

STEP = 0.1
CLASS = "gunshot"
BASE = paper_postprocess(CLASS)


def _curve(*stretches, n=200):
    """Probabilities 0.1 with ``(first step, last step, p)`` stretches raised."""
    p = np.full(n, 0.1)
    for first, last, value in stretches:
        p[first : last + 1] = value
    return p


def _event(name, onset):
    return MixtureEvent(name, onset, onset + 1.0, CLASS)


def _trials(clips, grid=(0.5, 1.0, 3.0)):
    probs = {name: p for name, (p, _) in clips.items()}
    reference = [ref for _, ref in clips.values()]
    return {t.lookback_seconds: t for t in lookback_trials(probs, reference, CLASS, BASE, STEP, grid)}


# An impulsive event at 5.0 s (steps 50-55, peak at 52) with an unrelated bump 2 s earlier.
BUMP_BEFORE = (_curve((30, 32, 0.7), (50, 55, 0.9), (52, 52, 0.95)), _event("bump.wav", 5.0))
# A cry at 10.0 s whose first burst (steps 100-104) is followed by a dip and a later, higher peak (step 122).
LATE_PEAK = (_curve((100, 104, 0.9), (120, 125, 0.9), (122, 122, 0.97)), _event("late.wav", 10.0))
QUIET = (_curve(), MixtureEvent("quiet.wav"))


def test_a_long_lookback_reaching_an_earlier_bump_loses():
    trials = _trials({"bump.wav": BUMP_BEFORE, "quiet.wav": QUIET})
    assert trials[0.5].error_rate == trials[1.0].error_rate == 0.0
    assert trials[3.0].error_rate == pytest.approx(2.0)  # onset at the bump: an insertion and a deletion
    assert trials[3.0].onset_error == ONSET_ERROR_CAP
    assert best_lookback(list(trials.values())) == 0.5  # tie on ER and onset error: the shorter


def test_a_peak_late_in_the_event_needs_a_long_lookback():
    trials = _trials({"late.wav": LATE_PEAK, "quiet.wav": QUIET})
    assert trials[3.0].error_rate == 0.0 and trials[3.0].onset_error == pytest.approx(0.0)
    assert trials[1.0].error_rate == pytest.approx(2.0)  # the search starts after the first burst: onset 12.0 s
    assert best_lookback(list(trials.values())) == 3.0


def test_equal_error_rates_go_to_the_smaller_onset_error_before_the_shorter_lookback():
    # Raised from 5.0 s, a dip at 5.2-5.3 s, raised again to the peak: both look-backs hit (collar 0.5 s),
    # 0.5 s puts the onset at 5.4 s, 1.0 s at 5.0 s.
    clip = (_curve((50, 51, 0.8), (54, 60, 0.8), (58, 58, 0.9)), _event("dip.wav", 5.0))
    trials = _trials({"dip.wav": clip}, grid=(0.5, 1.0))
    assert trials[0.5].error_rate == trials[1.0].error_rate == 0.0
    assert trials[0.5].onset_error == pytest.approx(0.4) and trials[1.0].onset_error == pytest.approx(0.0)
    assert best_lookback(list(trials.values())) == 1.0


def test_onset_error_without_detections_in_event_clips_is_the_cap():
    trials = _trials({"quiet.wav": QUIET, "missed.wav": (_curve(), _event("missed.wav", 3.0))})
    assert all(t.onset_error == ONSET_ERROR_CAP and t.error_rate == pytest.approx(1.0) for t in trials.values())


def test_bad_grids_and_empty_trials_are_refused():
    with pytest.raises(ValueError, match="positive"):
        _trials({"quiet.wav": QUIET}, grid=(0.0, 1.0))
    with pytest.raises(ValueError, match="positive"):
        _trials({"quiet.wav": QUIET}, grid=())
    with pytest.raises(ValueError, match="no look-back"):
        best_lookback([])
    assert best_lookback([LookbackTrial(2.0, 0.5, 0.1), LookbackTrial(1.0, 0.5, 0.1)]) == 1.0


def test_the_onset_rule_is_chosen_with_the_lookback():
    # The late-peak cry: 'earliest' with 3 s reaches the first burst across the dip; 'contiguous' stops at the dip.
    probs = {"late.wav": LATE_PEAK[0], "quiet.wav": QUIET[0]}
    reference = [LATE_PEAK[1], QUIET[1]]
    trials = lookback_trials(probs, reference, CLASS, BASE, STEP, (1.0, 3.0), rules=("earliest", "contiguous"))
    assert [(t.onset_rule, t.lookback_seconds) for t in trials] == [("earliest", 1.0), ("earliest", 3.0), ("contiguous", 1.0), ("contiguous", 3.0)]
    by = {(t.onset_rule, t.lookback_seconds): t for t in trials}
    assert by["earliest", 3.0].error_rate == 0.0 and by["contiguous", 3.0].error_rate == pytest.approx(2.0)
    assert (best_trial(trials).onset_rule, best_trial(trials).lookback_seconds) == ("earliest", 3.0)
    # The bump before an impulsive event: 'contiguous' ignores the bump at any look-back; on a tie the rule listed first wins.
    probs = {"bump.wav": BUMP_BEFORE[0], "quiet.wav": QUIET[0]}
    reference = [BUMP_BEFORE[1], QUIET[1]]
    trials = lookback_trials(probs, reference, CLASS, BASE, STEP, (3.0,), rules=("earliest", "contiguous"))
    assert [t.error_rate for t in trials] == [pytest.approx(2.0), 0.0]
    assert best_trial(trials).onset_rule == "contiguous"
    tied = [LookbackTrial(1.0, 0.0, 0.1, "contiguous"), LookbackTrial(0.5, 0.0, 0.1, "earliest")]
    assert best_trial(tied).onset_rule == "contiguous"  # listed first
    chosen = best_thresholds(probs, reference, CLASS, dataclasses.replace(BASE, presence_threshold=0.8), STEP, (3.0,), (0.5, 0.8), rules=("earliest", "contiguous"))
    assert chosen.onset_rule == "contiguous" and chosen.lookback_seconds == 3.0
