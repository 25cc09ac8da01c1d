"""What only the devtest backgrounds hold (mini data v4): sounds and scene variants never heard in training.

Held-out distractors: ``dishes`` (ceramic clatter, close to breaking glass), ``dog`` (barks:
harmonic, voiced, close to a cry) and ``hammer`` (sharp periodic impacts with a metallic ring,
close to shots). Held-out scene variants: ``rain`` (street, park), ``kitchen`` (home: running
water and an extractor fan), ``hvac`` (office, cafe, train: fan tones and broadband air noise).
"""

from __future__ import annotations

import numpy as np

from .signals import _add, _bandpass, _decay, _formants, _highpass, _lowpass, _noise, _pulse, _smooth_random, _unit, _window


def _dishes(rng, sr):
    """Ceramic clatter: two to six impacts, each a click and 1-4 kHz partials with short decays."""
    count = int(rng.integers(2, 7))
    times = np.cumsum(rng.uniform(0.03, 0.25, count))
    out = np.zeros(int((times[-1] + 0.3) * sr))
    k = int(0.25 * sr)
    tt = np.arange(k) / sr
    for t in times:
        hit = 0.4 * _highpass(_noise(rng, k, sr), sr, 800.0) * _decay(k, sr, rng.uniform(0.001, 0.004))
        for _ in range(int(rng.integers(2, 6))):
            f = rng.uniform(1000.0, 4000.0)
            hit += rng.uniform(0.2, 0.8) * np.sin(2 * np.pi * f * tt + rng.uniform(0, 2 * np.pi)) * np.exp(-tt / rng.uniform(0.01, 0.06))
        _add(out, hit, int(t * sr), rng.uniform(0.5, 1.0))
    return out


def _dog(rng, sr):
    """Dog barks: one to four 0.1-0.3 s voiced bursts (f0 300-700 Hz) with a noisy onset."""
    count = int(rng.integers(1, 5))
    spacing = rng.uniform(0.3, 0.7)
    out = np.zeros(int((count * spacing + 0.4) * sr))
    for i in range(count):
        m = int(rng.uniform(0.1, 0.3) * sr)
        f0 = rng.uniform(300.0, 700.0) * np.linspace(1.0, rng.uniform(0.6, 0.9), m)
        src = _unit(_pulse(f0, sr, min(6000.0, 0.45 * sr), rng)) + 0.3 * _noise(rng, m, sr, hp=300.0)
        y = _formants(src, sr, [(rng.uniform(800, 1400), 400.0, 1.0), (rng.uniform(2000, 3000), 600.0, 0.5)])
        env = _window(m, int(0.005 * sr), int(0.06 * sr)) * np.exp(-np.arange(m) / (sr * rng.uniform(0.05, 0.15)))
        _add(out, _unit(y) * env, int(i * spacing * rng.uniform(0.9, 1.1) * sr), rng.uniform(0.6, 1.0))
    return out


def _hammer(rng, sr):
    """Hammering: three to ten blows 0.3-0.6 s apart, each a sharp click with a metallic 2-4 kHz ring."""
    count = int(rng.integers(3, 11))
    period = rng.uniform(0.3, 0.6)
    f = rng.uniform(2000.0, 4000.0)
    k = int(0.15 * sr)
    tt = np.arange(k) / sr
    out = np.zeros(int((count * period + 0.2) * sr))
    for i in range(count):
        blow = _noise(rng, k, sr, hp=200.0) * _decay(k, sr, rng.uniform(0.001, 0.003))
        blow += 0.5 * np.sin(2 * np.pi * f * tt) * np.exp(-tt / rng.uniform(0.01, 0.04))
        blow += 0.5 * _lowpass(_noise(rng, k, sr), sr, 300.0) * _decay(k, sr, 0.02)
        _add(out, blow, int(i * period * rng.uniform(0.95, 1.05) * sr), rng.uniform(0.7, 1.0))
    return out


HELD_OUT_TRANSIENTS = {"dishes": _dishes, "dog": _dog, "hammer": _hammer}

#: Per scene, devtest only: transient -> (occurrences per minute, level range in dB relative to the floor RMS).
HELD_OUT_SCENE_TRANSIENTS = {
    "cafe": {"dishes": (3, (0, 12))},
    "home": {"dishes": (1.5, (0, 12)), "dog": (1, (0, 12)), "hammer": (0.7, (3, 14))},
    "office": {"hammer": (0.5, (0, 12))},
    "park": {"dog": (2, (0, 12))},
    "street": {"dog": (1, (0, 12)), "hammer": (0.7, (0, 12))},
    "train": {"dishes": (0.5, (0, 10))},
}

#: Held-out scene variant per scene (devtest only) and the probability a devtest background has it.
HELD_OUT_VARIANTS = {"street": "rain", "park": "rain", "home": "kitchen", "office": "hvac", "cafe": "hvac", "train": "hvac"}
VARIANT_PROBABILITY = 0.5


def variant_layer(rng, variant: str, n: int, sr: float) -> np.ndarray:
    """A full-band layer of a held-out scene variant, unit RMS, shape (n,)."""
    if variant == "rain":
        y = _noise(rng, n, sr, alpha=0.3, hp=300.0, lp=rng.uniform(6000.0, 12000.0))
        drops = np.zeros(n)
        k = int(0.004 * sr)
        for t in rng.uniform(0, n / sr, int(rng.uniform(20, 60) * n / sr)):
            _add(drops, _highpass(_noise(rng, k, sr), sr, 1500.0) * _decay(k, sr, 0.0008), int(t * sr), rng.uniform(0.3, 1.5))
        return _unit(y + 0.5 * _unit(drops))
    if variant == "kitchen":
        water = _bandpass(_noise(rng, n, sr, alpha=0.2), sr, 500.0, 8000.0, order=2) * 10 ** (_smooth_random(rng, n, sr, 8.0, -4.0, 4.0) / 20.0)
        fan = _lowpass(_noise(rng, n, sr, alpha=1.0, hp=60.0), sr, 800.0)
        return _unit(_unit(water) + 0.6 * _unit(fan))
    if variant == "hvac":
        tt = np.arange(n) / sr
        f = rng.uniform(100.0, 300.0)
        tones = sum(rng.uniform(0.2, 1.0) / h * np.sin(2 * np.pi * f * h * tt + rng.uniform(0, 6.3)) for h in range(1, 6))
        air = _noise(rng, n, sr, alpha=1.0, hp=50.0, lp=rng.uniform(2000.0, 5000.0))
        return _unit(0.5 * _unit(tones) + _unit(air))
    raise ValueError(f"unknown scene variant {variant!r}")


__all__ = ["HELD_OUT_TRANSIENTS", "HELD_OUT_SCENE_TRANSIENTS", "HELD_OUT_VARIANTS", "VARIANT_PROBABILITY", "variant_layer"]
