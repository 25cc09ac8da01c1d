"""The mini dataset's target events: one generator per class and the event recording around it.

Each event file holds the annotated segment with a 0.1-0.5 s low-level lead-in and tail:

- ``babycry`` (1-4 s): cry bursts separated by short gaps and inhalations; harmonic source with
  a base f0 of 300-500 Hz that rises and falls by 10-35 % within each burst, 5-8 Hz vibrato,
  formant-like resonances and breath noise.
- ``glassbreak`` (0.5-2 s): a sharp broadband crash of a few ms, sparse inharmonic ringing
  partials between 2 and 12 kHz with individual exponential decays, then tinkling fragments.
- ``gunshot`` (0.3-2 s): an N-wave crack, a broadband blast and a low boom with fast decays,
  early reflections and a reverberant low-passed noise tail; sometimes two or three shots.
"""

from __future__ import annotations

import numpy as np

from .signals import _add, _bandpass, _decay, _fade_end, _formants, _highpass, _lowpass, _noise, _pulse, _smooth_random, _unit, _window

#: Duration range (seconds) of the annotated event segment per class.
EVENT_SECONDS = {"babycry": (1.0, 4.0), "glassbreak": (0.5, 2.0), "gunshot": (0.3, 2.0)}
#: Range (seconds) of the low-level lead-in before and tail after the event in an event file.
PAD_SECONDS = (0.1, 0.5)



def _babycry(rng, sr: float, dur: float) -> np.ndarray:
    """Cry bursts (base f0 300-500 Hz, rise-fall contour, 5-8 Hz vibrato, formants) filling ``dur`` s."""
    n = int(round(dur * sr))
    out = np.zeros(n)
    base = rng.uniform(300.0, 500.0)
    formants = [
        (rng.uniform(1000, 1500), rng.uniform(250, 450), 1.0),
        (rng.uniform(2500, 3500), rng.uniform(400, 700), rng.uniform(0.4, 0.8)),
        (rng.uniform(4500, 5800), rng.uniform(600, 1000), rng.uniform(0.15, 0.4)),
    ]
    vib_rate, vib_depth = rng.uniform(5.0, 8.0), rng.uniform(0.012, 0.035)
    breath = rng.uniform(0.03, 0.15)
    bursts, t = [], 0.0
    while True:
        length = rng.uniform(0.35, 1.3)
        if t + length >= dur - 0.25:
            bursts.append((t, dur - t))
            break
        bursts.append((t, length))
        gap = rng.uniform(0.08, 0.4)
        if t + length + gap >= dur - 0.3:
            bursts[-1] = (t, dur - t)
            break
        t += length + gap
    for b, (start, length) in enumerate(bursts):
        m = int(round(length * sr))
        tau = np.arange(m) / sr
        f0 = base * rng.uniform(0.9, 1.1) * (1.0 + rng.uniform(0.1, 0.35) * np.sin(np.pi * tau / length) ** rng.uniform(0.5, 2.0))
        f0 *= 1.0 + vib_depth * np.sin(2 * np.pi * vib_rate * tau + rng.uniform(0, 2 * np.pi))
        f0 *= 1.0 + 0.006 * _smooth_random(rng, m, sr, 30.0, -1.0, 1.0)
        src = _lowpass(_pulse(f0, sr, min(8000.0, 0.45 * sr), rng), sr, 1.5 * base)
        src = _unit(src) + breath * _noise(rng, m, sr, alpha=0.5, hp=500.0)
        y = _formants(src, sr, formants)
        env = _window(m, int(rng.uniform(0.02, 0.07) * sr), int(rng.uniform(0.04, 0.15) * sr))
        env *= 1.0 + 0.15 * np.sin(2 * np.pi * vib_rate * tau)
        _add(out, _unit(y) * env, int(round(start * sr)), rng.uniform(0.6, 1.0))
        if b + 1 < len(bursts) and rng.random() < 0.5:  # inhalation in the gap
            gap_start = start + length
            gap = bursts[b + 1][0] - gap_start
            k = int(min(gap, rng.uniform(0.05, 0.15)) * sr)
            if k > 16:
                gasp = _bandpass(_noise(rng, k, sr), sr, 800.0, 3500.0, order=2) * _window(k, k // 3, k // 3)
                _add(out, _unit(gasp), int(gap_start * sr), rng.uniform(0.05, 0.15))
    return _fade_end(out, sr, 0.02)


def _glassbreak(rng, sr: float, dur: float) -> np.ndarray:
    """Broadband crash, inharmonic ringing partials (2-12 kHz) and tinkling fragments over ``dur`` s."""
    n = int(round(dur * sr))
    out = np.zeros(n)
    # Crash: a few sub-bursts of broadband noise with ms decays within the first 80 ms.
    for i in range(int(rng.integers(1, 4))):
        k = min(n, int(0.06 * sr))
        burst = _noise(rng, k, sr, alpha=rng.uniform(0.0, 0.6), hp=rng.uniform(300.0, 1500.0))
        start = 0 if i == 0 else int(rng.uniform(0.005, 0.08) * sr)
        _add(out, burst * _decay(k, sr, rng.uniform(0.002, 0.012)), start, 1.0 if i == 0 else rng.uniform(0.3, 0.8))
    # Ringing partials.
    scale = min(1.0, dur)
    for _ in range(int(rng.integers(8, 26))):
        f = np.exp(rng.uniform(np.log(2000.0), np.log(min(12000.0, 0.45 * sr))))
        tau = rng.uniform(0.01, 0.2) * scale
        k = min(n, int(6 * tau * sr) + 1)
        tt = np.arange(k) / sr
        ring = np.sin(2 * np.pi * f * tt + rng.uniform(0, 2 * np.pi)) * np.exp(-tt / tau) * _window(k, int(0.0005 * sr), 0)
        _add(out, ring, int(rng.uniform(0.0, 0.03) * sr), rng.uniform(0.05, 0.35))
    # Tinkling fragments: falling shards, denser and louder early.
    count = int(rng.integers(3, 8) + rng.integers(2, 10) * dur)
    for _ in range(count):
        t = 0.05 + (dur - 0.1) * rng.random() ** 1.5
        amp = rng.uniform(0.05, 0.4) * np.exp(-t / (0.5 * dur))
        k = int(rng.uniform(0.01, 0.08) * sr)
        tt = np.arange(k) / sr
        frag = np.zeros(k)
        for _ in range(int(rng.integers(1, 5))):
            f = rng.uniform(3000.0, min(12000.0, 0.45 * sr))
            part, phase, tau = rng.uniform(0.3, 1.0), rng.uniform(0, 2 * np.pi), rng.uniform(0.005, 0.04)
            frag += part * np.sin(2 * np.pi * f * tt + phase) * np.exp(-tt / tau)
        click = int(rng.uniform(0.0005, 0.002) * sr) + 2
        frag[:click] += _highpass(_noise(rng, click, sr), sr, 2000.0) * 0.5
        _add(out, frag, int(t * sr), amp)
    return _fade_end(out, sr, 0.03)


def _gunshot(rng, sr: float, dur: float) -> np.ndarray:
    """One to three shots (crack, blast, boom, reflections, reverberant tail) over ``dur`` s."""
    n = int(round(dur * sr))
    out = np.zeros(n)
    shots = int(rng.choice([1, 2, 3], p=[0.6, 0.25, 0.15]))
    spacing = rng.uniform(0.1, 0.45)
    while shots > 1 and (shots - 1) * spacing > dur - 0.25:
        shots -= 1
    # The annotated segment ends where the tail has decayed 25-40 dB, as an annotator would mark it.
    t60 = float(np.clip(dur / rng.uniform(0.4, 0.7), 0.3, 3.0))
    tail_lp = rng.uniform(800.0, 4000.0)
    boom_fc = rng.uniform(80.0, 300.0)
    tail_gain = rng.uniform(0.25, 0.6)  # real gunshots ring on: the tail carries most of the annotated segment
    for s in range(shots):
        start = int(round(s * spacing * (rng.uniform(0.85, 1.15) if s else 1.0) * sr))
        m = n - start
        if m <= 16:
            break
        shot = np.zeros(m)
        wave = int(rng.uniform(0.001, 0.003) * sr)  # N-wave crack
        shot[: min(wave, m)] += np.linspace(1.0, -1.0, wave)[: min(wave, m)]
        kb = min(m, int(0.08 * sr))
        blast = _noise(rng, kb, sr, alpha=rng.uniform(0.0, 1.0), hp=60.0) * _decay(kb, sr, rng.uniform(0.002, 0.01))
        shot[:kb] += 0.8 * blast
        boom = _lowpass(_noise(rng, kb, sr), sr, boom_fc, order=2)
        shot[:kb] += 0.7 * _unit(boom) * _decay(kb, sr, rng.uniform(0.015, 0.06))
        for _ in range(int(rng.integers(2, 6))):  # early reflections
            _add(shot, blast, int(rng.uniform(0.005, 0.04) * sr), rng.uniform(0.1, 0.4) * rng.choice([-1.0, 1.0]))
        tt = np.arange(m) / sr
        tail = _lowpass(_noise(rng, m, sr, alpha=0.5, hp=80.0), sr, tail_lp, order=2)
        shot += tail_gain * _unit(tail) * (1.0 - np.exp(-tt / 0.01)) * np.exp(-6.9 * tt / t60)
        _add(out, shot, start, 1.0 if s == 0 else rng.uniform(0.6, 1.0))
    return _fade_end(out, sr, 0.02)


EVENT_GENERATORS = {"babycry": _babycry, "glassbreak": _glassbreak, "gunshot": _gunshot}


def make_event_file(rng, class_name: str, sr: int) -> tuple[np.ndarray, tuple[float, float]]:
    """One event recording: returns samples [shape=(n,)] and the event segment (start, end) in seconds.

    The event (duration uniform in ``EVENT_SECONDS[class_name]``) sits between a lead-in and a
    tail of 0.1-0.5 s; a low-level noise floor (RMS 45-60 dB below the event peak) runs through.
    """
    lo, hi = EVENT_SECONDS[class_name]
    n_event = int(round(rng.uniform(lo, hi) * sr))
    n_lead = int(round(rng.uniform(*PAD_SECONDS) * sr))
    n_tail = int(round(rng.uniform(*PAD_SECONDS) * sr))
    event = EVENT_GENERATORS[class_name](rng, float(sr), n_event / sr)
    event = event / (np.max(np.abs(event)) + 1e-20)
    n = n_lead + n_event + n_tail
    floor = _noise(rng, n, sr, alpha=rng.uniform(0.5, 1.5), hp=40.0, lp=rng.uniform(4000.0, 12000.0))
    y = floor * 10 ** (rng.uniform(-60.0, -45.0) / 20.0)
    y[n_lead : n_lead + n_event] += event
    y *= rng.uniform(0.3, 0.9) / np.max(np.abs(y))
    return y, (n_lead / sr, (n_lead + n_event) / sr)
