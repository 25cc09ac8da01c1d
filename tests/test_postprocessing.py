"""Sliding ensemble and the two-threshold decision on hand-made probability curves."""

import numpy as np
import pytest

from rsed.config import PostprocessConfig
from rsed.inference.postprocessing import detect_event, ensemble_average, find_onset, sliding_average


def test_sliding_average_by_hand():
    # 3 windows of tau=2 over 4 steps: step 0 <- w0; 1 <- w0,w1; 2 <- w1,w2; 3 <- w2
    w = np.array([[0.1, 0.3], [0.5, 0.7], [0.2, 0.4]])
    np.testing.assert_allclose(sliding_average(w, 4), [0.1, 0.4, 0.45, 0.4])


def test_sliding_average_truncates_padded_short_clip():
    np.testing.assert_allclose(sliding_average(np.array([[0.2, 0.4, 0.6]]), 2), [0.2, 0.4])
    with pytest.raises(ValueError):
        sliding_average(np.array([[0.2, 0.4]]), 3)


def test_no_event_when_peak_does_not_exceed_t1():
    probs = np.array([0.1, 0.6, 0.79, 0.5, 0.2])
    assert detect_event(probs, 0.1, PostprocessConfig(presence_threshold=0.8)) is None
    assert detect_event(np.full(5, 0.8), 0.1, PostprocessConfig(presence_threshold=0.8)) is None  # must exceed


def test_onset_is_first_step_above_t2_in_lookback():
    probs = np.array([0.0, 0.6, 0.1, 0.2, 0.55, 0.7, 0.95, 0.9, 0.3, 0.0])
    det = detect_event(probs, 0.5, PostprocessConfig(presence_threshold=0.8, onset_threshold=0.5, lookback_seconds=1.5))
    # peak at step 6; look-back 3 steps -> steps 3..6; first > 0.5 is step 4
    assert (det.peak_step, det.onset_step, det.offset_step) == (6, 4, 8)
    assert det.onset == pytest.approx(2.0) and det.offset == pytest.approx(4.0)
    longer = detect_event(probs, 0.5, PostprocessConfig(presence_threshold=0.8, lookback_seconds=3.0))
    assert longer.onset_step == 1  # the earlier excursion is inside a 6-step look-back


def test_event_reaching_clip_end_and_low_t1():
    probs = np.array([0.1, 0.2, 0.52, 0.6])
    det = detect_event(probs, 1.0, PostprocessConfig(presence_threshold=0.5))
    assert (det.onset_step, det.offset_step, det.offset) == (2, 4, 4.0)


def test_ensemble_average():
    np.testing.assert_allclose(ensemble_average([np.array([0.2, 0.4]), np.array([0.6, 0.8]), np.array([1.0, 0.0])]), [0.6, 0.4])
    with pytest.raises(ValueError):
        ensemble_average([np.zeros(3), np.zeros(4)])


def test_onset_rules_across_a_dip_below_t2():
    # peak at step 6; steps 1 and 4-7 above t2 = 0.5, steps 2-3 dip below it.
    probs = np.array([0.0, 0.6, 0.1, 0.2, 0.55, 0.7, 0.95, 0.9, 0.3, 0.0])
    earliest = PostprocessConfig(presence_threshold=0.8, lookback_seconds=3.0)
    contiguous = PostprocessConfig(presence_threshold=0.8, lookback_seconds=3.0, onset_rule="contiguous")
    assert detect_event(probs, 0.5, earliest).onset_step == 1  # across the dip
    assert detect_event(probs, 0.5, contiguous).onset_step == 4  # the run that holds the peak
    assert find_onset(probs, 6, 0.5, PostprocessConfig(lookback_seconds=0.5, onset_rule="contiguous")) == 5  # cut at the window start
    flat = np.array([0.6, 0.7, 0.9])
    assert find_onset(flat, 2, 1.0, contiguous) == 0 == find_onset(flat, 2, 1.0, earliest)  # no dip: the rules agree
    assert find_onset(np.array([0.2, 0.4]), 1, 1.0, contiguous) == 1  # peak not above t2: the peak
    with pytest.raises(ValueError, match="onset rule"):
        PostprocessConfig(onset_rule="latest")
