"""Tests of rsed.data.chain: recording chains (room, distance, microphone, rate, clipping, MP3)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from rsed.data.chain import (
    ChainProfile,
    RecordingChain,
    apply_chain,
    band_limit,
    clip_peaks,
    draw_chain,
    equalise,
    mp3_available,
    mp3_round_trip,
    room_impulse_response,
)

SR = 44100


def _tone_burst(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return 0.3 * np.sin(2 * np.pi * 1000 * t) + 0.05 * rng.standard_normal(t.size)


def _band_energy(y: np.ndarray, sr: int, lo: float, hi: float) -> float:
    f, p = signal.welch(y, sr, nperseg=4096)
    return float(p[(f >= lo) & (f < hi)].sum())


def test_neutral_chain_changes_nothing():
    y = _tone_burst()
    out = apply_chain(y, SR, RecordingChain(), np.random.default_rng(0))
    np.testing.assert_allclose(out, y)


def test_band_limit_removes_everything_above_half_the_native_rate():
    y = np.random.default_rng(1).standard_normal(SR)
    low = band_limit(y, SR, 8000)
    assert low.size == 8000
    back = band_limit(low, 8000, SR)
    assert abs(back.size - SR) <= 1
    assert _band_energy(back, SR, 4500, 20000) < 1e-4 * _band_energy(y, SR, 4500, 20000)
    assert _band_energy(back, SR, 500, 3500) > 0.8 * _band_energy(y, SR, 500, 3500)


def test_chain_output_is_at_the_native_rate_and_keeps_the_timing():
    y = _tone_burst(0.5)
    chain = RecordingChain(native_rate=16000, eq=((2000.0, 6.0, 1.0),), low_cut=100.0, rt60=0.3, drr_db=6.0, air_cutoff=5000.0)
    out = apply_chain(y, SR, chain, np.random.default_rng(2))
    assert abs(out.size - round(y.size * 16000 / SR)) <= 1  # the reverberant tail is cut: annotated times stay valid


def test_peaking_filter_gain_at_its_centre():
    t = np.arange(SR) / SR
    tone = np.sin(2 * np.pi * 3000 * t)
    for gain in (-9.0, 6.0):
        out = equalise(tone, SR, [(3000.0, gain, 1.0)])
        measured = 20 * np.log10(np.sqrt(np.mean(out[SR // 2 :] ** 2)) / np.sqrt(np.mean(tone[SR // 2 :] ** 2)))
        assert measured == pytest.approx(gain, abs=0.2)


def test_room_impulse_response_direct_to_reverberant_ratio():
    for drr in (0.0, 10.0):
        ir = room_impulse_response(np.random.default_rng(3), SR, rt60=0.5, drr_db=drr)
        direct, rest = ir[0] ** 2, np.sum(ir[1:] ** 2)
        assert 10 * np.log10(direct / rest) == pytest.approx(drr, abs=0.1)
        assert ir.size == int(0.6 * SR)


def test_clipping_flattens_the_peaks_and_keeps_the_level():
    y = _tone_burst()
    out = clip_peaks(y, 0.5)
    assert np.max(np.abs(out)) == pytest.approx(np.max(np.abs(y)))
    assert np.mean(np.abs(out) > 0.99 * np.max(np.abs(out))) > 0.1


@pytest.mark.skipif(not mp3_available(), reason="this libsndfile cannot write MP3")
def test_mp3_round_trip_is_aligned_and_lossy():
    y = _tone_burst(1.0, seed=4)
    for rate in (8000, 44100):
        x = band_limit(y, SR, rate)
        out = mp3_round_trip(x, rate, 0.9)
        assert out.size == x.size
        corr = np.dot(out, x) / np.sqrt(np.dot(out, out) * np.dot(x, x))
        assert corr > 0.9  # aligned: the encoder delay is removed
        assert not np.allclose(out, x, atol=1e-4)  # and it is lossy


def test_draw_chain_is_deterministic_and_respects_the_profile():
    profile = ChainProfile(rates=(8000, 16000), rate_weights=(1.0, 1.0), eq_prob=1.0, reverb_prob=0.0, mp3_prob=0.0)
    a = [draw_chain(np.random.default_rng(5), profile) for _ in range(2)]
    assert a[0] == a[1]
    chains = [draw_chain(np.random.default_rng(s), profile) for s in range(50)]
    assert {c.native_rate for c in chains} == {8000, 16000}
    assert all(c.eq and c.rt60 == 0.0 and c.mp3_quality == 0.0 for c in chains)
