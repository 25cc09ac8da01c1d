"""Scoring with sed_eval as the challenge did, on hand-made event lists."""

import pytest

from rsed.data.layout import MixtureEvent as E
from rsed.evaluation.scoring import class_average, score_class


def test_onset_within_collar_is_a_hit():
    s = score_class("babycry", [E("a.wav", 10.0, 12.0, "babycry")], [E("a.wav", 10.4, 10.9, "babycry")])
    assert (s.error_rate, s.f_measure, s.deletions, s.insertions) == (0.0, 1.0, 0, 0)


def test_onset_outside_collar_is_insertion_plus_deletion():
    s = score_class("babycry", [E("a.wav", 10.0, 12.0, "babycry")], [E("a.wav", 10.6, 12.0, "babycry")])
    assert (s.deletions, s.insertions) == (1, 1)
    assert (s.error_rate, s.f_measure) == pytest.approx((2.0, 0.0))


def test_clip_without_event_or_estimate_counts_nothing():
    ref = [E("a.wav", 10.0, 12.0, "gunshot"), E("b.wav")]
    alone = score_class("gunshot", ref[:1], [E("a.wav", 10.1, 11.0, "gunshot")])
    both = score_class("gunshot", ref, [E("a.wav", 10.1, 11.0, "gunshot")])
    assert alone.error_rate == both.error_rate == 0.0 and both.n_files == 2


def test_false_alarm_on_empty_clip_is_an_insertion():
    ref = [E("a.wav", 10.0, 12.0, "gunshot"), E("b.wav")]
    s = score_class("gunshot", ref, [E("a.wav", 10.1, 11.0, "gunshot"), E("b.wav", 3.0, 4.0, "gunshot")])
    assert (s.insertions, s.deletions) == (1, 0) and s.error_rate == pytest.approx(1.0)


def test_estimate_for_unknown_file_is_refused():
    with pytest.raises(ValueError, match="c.wav"):
        score_class("gunshot", [E("a.wav")], [E("c.wav", 1.0, 2.0, "gunshot")])


def test_class_average_is_mean_of_classes():
    a = score_class("x", [E("a.wav", 1.0, 2.0, "x")], [E("a.wav", 1.0, 2.0, "x")])
    b = score_class("y", [E("a.wav", 1.0, 2.0, "y")], [E("a.wav", 1.8, 2.0, "y")])
    assert class_average([a, b]) == pytest.approx((1.0, 0.5))


def test_no_output_at_all_gives_undefined_f1_as_sed_eval_does():
    s = score_class("y", [E("a.wav", 1.0, 2.0, "y")], [])
    assert s.error_rate == pytest.approx(1.0) and s.f_measure != s.f_measure  # NaN: precision is 0/0
