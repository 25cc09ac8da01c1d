"""The mini dataset's target events, in families of designs (mini data v4), and the event recording around them.

Each class has families: a sound-production model and a region of its parameters. One family
per class occurs only among the devtest sources (:data:`HELD_OUT_FAMILIES`), so a detector is
tested on kinds of the class it never heard, as the real devtest's recordings are other
recordings of other sources than devtrain's (docs/interpretation.md, "The embedded mini dataset").

- ``babycry`` (1-4 s): ``infant`` (f0 300-500 Hz, rise-fall bursts, 5-8 Hz vibrato, formants,
  breath), ``newborn`` (f0 420-620 Hz, short quick bursts, hyperphonation jumps of 1.8-2.4x),
  ``toddler`` (f0 250-380 Hz, long rough bursts with a subharmonic, sobbing inhalations) and,
  devtest only, ``scream`` (f0 520-820 Hz, gliding, noisy phonation, hardly any vibrato).
- ``glassbreak`` (0.5-2 s): ``pane`` (broadband crash, many 2-12 kHz ringing partials, tinkling
  shards), ``bottle`` (body thud, few 1-5 kHz partials ringing longer), ``drop`` (two to four
  bouncing impacts) and, devtest only, ``tempered`` (a dense granular crackle of hundreds of
  micro-fractures).
- ``gunshot`` (0.3-2 s): ``pistol`` (N-wave crack, blast, boom, reverberant tail; one to three
  shots), ``rifle`` (supersonic crack, muzzle blast 20-150 ms later, long outdoor tail with
  discrete echoes), ``shotgun`` (dominant low boom, slower blast) and, devtest only, ``burst``
  (automatic fire: 3-10 shots 60-120 ms apart).

Each event file holds the annotated segment with a 0.1-0.5 s low-level lead-in and tail; the
recording chain (room, microphone, rate, codec) is applied afterwards (:mod:`.tree`).
"""

from __future__ import annotations

import numpy as np

from .signals import _add, _bandpass, _decay, _fade_end, _formants, _highpass, _lowpass, _noise, _pulse, _smooth_random, _unit, _window

#: Duration range (seconds) of the annotated event segment per class.
EVENT_SECONDS = {"babycry": (1.0, 4.0), "glassbreak": (0.5, 2.0), "gunshot": (0.3, 2.0)}
#: Range (seconds) of the low-level lead-in before and tail after the event in an event file.
PAD_SECONDS = (0.1, 0.5)


# --------------------------------------------------------------------------------------------
# babycry


def _bursts(rng, dur: float, length: tuple[float, float], gap: tuple[float, float]) -> list[tuple[float, float]]:
    """Burst (start, length) pairs in seconds filling ``dur``; the last burst runs to the end."""
    bursts, t = [], 0.0
    while True:
        n = rng.uniform(*length)
        if t + n >= dur - 0.25:
            bursts.append((t, dur - t))
            return bursts
        bursts.append((t, n))
        g = rng.uniform(*gap)
        if t + n + g >= dur - 0.3:
            bursts[-1] = (t, dur - t)
            return bursts
        t += n + g


#: Cry families: f0 range (Hz), burst and gap lengths (s), rise of f0 within a burst, vibrato rate (Hz)
#: and depth, formant scale, breath noise, probability of hyperphonation per burst, subharmonic
#: (roughness) and noise-phonation shares, f0 glide over a burst, probability of an inhalation per gap.
CRY_FAMILIES = {
    "infant": dict(
        f0=(300, 500), burst=(0.35, 1.3), gap=(0.08, 0.4), rise=(0.1, 0.35), vib_rate=(5, 8), vib_depth=(0.012, 0.035),
        formant=1.0, breath=(0.03, 0.15), hyper=0.0, rough=(0, 0), noise=(0, 0), glide=(0, 0), inhale=0.5,
    ),
    "newborn": dict(
        f0=(420, 620), burst=(0.25, 0.7), gap=(0.05, 0.2), rise=(0.05, 0.25), vib_rate=(6, 10), vib_depth=(0.01, 0.03),
        formant=1.2, breath=(0.05, 0.12), hyper=0.35, rough=(0, 0), noise=(0, 0.1), glide=(0, 0), inhale=0.3,
    ),
    "toddler": dict(
        f0=(250, 380), burst=(0.7, 2.0), gap=(0.15, 0.5), rise=(0.15, 0.5), vib_rate=(4, 6), vib_depth=(0.02, 0.05),
        formant=0.85, breath=(0.15, 0.35), hyper=0.0, rough=(0.1, 0.4), noise=(0, 0.15), glide=(0, 0), inhale=0.9,
    ),
    "scream": dict(
        f0=(520, 820), burst=(0.4, 1.5), gap=(0.1, 0.35), rise=(0.0, 0.15), vib_rate=(5, 8), vib_depth=(0.0, 0.01),
        formant=1.1, breath=(0.1, 0.3), hyper=0.1, rough=(0, 0.1), noise=(0.3, 0.6), glide=(0.2, 0.5), inhale=0.4,
    ),
}


def _cry(rng, sr: float, dur: float, family: str) -> np.ndarray:
    """Cry bursts of one family (:data:`CRY_FAMILIES`): harmonic source following an f0 contour, formants, breath."""
    p = CRY_FAMILIES[family]
    n = int(round(dur * sr))
    out = np.zeros(n)
    base = rng.uniform(*p["f0"])
    scale = p["formant"] * rng.uniform(0.9, 1.1)
    formants = [
        (scale * rng.uniform(1000, 1500), rng.uniform(250, 450), 1.0),
        (scale * rng.uniform(2500, 3500), rng.uniform(400, 700), rng.uniform(0.4, 0.8)),
        (scale * rng.uniform(4500, 5800), rng.uniform(600, 1000), rng.uniform(0.15, 0.4)),
    ]
    vib_rate, vib_depth = rng.uniform(*p["vib_rate"]), rng.uniform(*p["vib_depth"])
    breath, rough, noisy = rng.uniform(*p["breath"]), rng.uniform(*p["rough"]), rng.uniform(*p["noise"])
    bursts = _bursts(rng, dur, p["burst"], p["gap"])
    for b, (start, length) in enumerate(bursts):
        m = int(round(length * sr))
        tau = np.arange(m) / sr
        f0 = base * rng.uniform(0.9, 1.1) * (1.0 + rng.uniform(*p["rise"]) * np.sin(np.pi * tau / length) ** rng.uniform(0.5, 2.0))
        f0 *= 1.0 + rng.choice([-1.0, 1.0]) * rng.uniform(*p["glide"]) * tau / max(length, 1e-3)
        if rng.random() < p["hyper"]:  # hyperphonation: f0 jumps up for the middle of the burst
            a, c = sorted(rng.uniform(0.15, 0.85, 2))
            f0[int(a * m) : int(c * m)] *= rng.uniform(1.8, 2.4)
        f0 *= 1.0 + vib_depth * np.sin(2 * np.pi * vib_rate * tau + rng.uniform(0, 2 * np.pi))
        f0 *= 1.0 + 0.006 * _smooth_random(rng, m, sr, 30.0, -1.0, 1.0)
        f0 = np.minimum(f0, 0.2 * sr)
        src = _unit(_lowpass(_pulse(f0, sr, min(8000.0, 0.45 * sr), rng), sr, 1.5 * base))
        if rough > 0:  # period doubling: a subharmonic at f0 / 2
            src += rough * _unit(_lowpass(_pulse(f0 / 2.0, sr, min(4000.0, 0.45 * sr), rng), sr, base))
        if noisy > 0:  # noisy phonation: the harmonics drown in turbulent noise
            src = (1.0 - noisy) * _unit(src) + noisy * _noise(rng, m, sr, alpha=0.3, hp=300.0, lp=6000.0)
        src = _unit(src) + breath * _noise(rng, m, sr, alpha=0.5, hp=500.0)
        y = _formants(src, sr, formants)
        env = _window(m, int(rng.uniform(0.02, 0.07) * sr), int(rng.uniform(0.04, 0.15) * sr))
        env *= 1.0 + 0.15 * np.sin(2 * np.pi * vib_rate * tau)
        _add(out, _unit(y) * env, int(round(start * sr)), rng.uniform(0.6, 1.0))
        if b + 1 < len(bursts) and rng.random() < p["inhale"]:  # inhalation (a sob) in the gap
            gap_start = start + length
            gap = bursts[b + 1][0] - gap_start
            k = int(min(gap, rng.uniform(0.05, 0.2)) * sr)
            if k > 16:
                gasp = _bandpass(_noise(rng, k, sr), sr, 800.0, 3500.0, order=2) * _window(k, k // 3, k // 3)
                _add(out, _unit(gasp), int(gap_start * sr), rng.uniform(0.05, 0.25))
    return _fade_end(out, sr, 0.02)


# --------------------------------------------------------------------------------------------
# glassbreak


def _partials(rng, out: np.ndarray, sr: float, start: int, count: int, band: tuple[float, float], tau: tuple[float, float], gain: tuple[float, float]) -> None:
    """Add ``count`` exponentially decaying sinusoids (log-uniform in ``band`` Hz) at sample ``start``."""
    for _ in range(count):
        f = np.exp(rng.uniform(np.log(band[0]), np.log(min(band[1], 0.45 * sr))))
        t = rng.uniform(*tau)
        k = min(out.size, int(6 * t * sr) + 1)
        tt = np.arange(k) / sr
        ring = np.sin(2 * np.pi * f * tt + rng.uniform(0, 2 * np.pi)) * np.exp(-tt / t) * _window(k, int(0.0005 * sr), 0)
        _add(out, ring, start + int(rng.uniform(0.0, 0.02) * sr), rng.uniform(*gain))


def _crash(rng, out: np.ndarray, sr: float, start: int, gain: float) -> None:
    """A fracture: one to three broadband noise bursts with millisecond decays within 80 ms."""
    for i in range(int(rng.integers(1, 4))):
        k = min(out.size, int(0.06 * sr))
        burst = _noise(rng, k, sr, alpha=rng.uniform(0.0, 0.6), hp=rng.uniform(300.0, 1500.0))
        offset = 0 if i == 0 else int(rng.uniform(0.005, 0.08) * sr)
        _add(out, burst * _decay(k, sr, rng.uniform(0.002, 0.012)), start + offset, gain * (1.0 if i == 0 else rng.uniform(0.3, 0.8)))


def _shards(rng, out: np.ndarray, sr: float, dur: float, count: int, band: tuple[float, float], t0: float = 0.05) -> None:
    """Tinkling fragments falling after the break: short clusters of high partials with a click, denser early."""
    for _ in range(count):
        t = t0 + max(dur - t0 - 0.05, 0.01) * rng.random() ** 1.5
        amp = rng.uniform(0.05, 0.4) * np.exp(-t / (0.5 * dur))
        k = int(rng.uniform(0.01, 0.08) * sr)
        tt = np.arange(k) / sr
        frag = np.zeros(k)
        for _ in range(int(rng.integers(1, 5))):
            f = rng.uniform(band[0], min(band[1], 0.45 * sr))
            frag += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * f * tt + rng.uniform(0, 2 * np.pi)) * np.exp(-tt / rng.uniform(0.005, 0.04))
        click = int(rng.uniform(0.0005, 0.002) * sr) + 2
        frag[:click] += _highpass(_noise(rng, click, sr), sr, 2000.0) * 0.5
        _add(out, frag, int(t * sr), amp)


def _glass(rng, sr: float, dur: float, family: str) -> np.ndarray:
    """A breaking-glass sound of one family (pane, bottle, drop, tempered)."""
    n = int(round(dur * sr))
    out = np.zeros(n)
    if family == "pane":
        _crash(rng, out, sr, 0, 1.0)
        _partials(rng, out, sr, 0, int(rng.integers(8, 26)), (2000.0, 12000.0), (0.01 * min(1.0, dur), 0.2 * min(1.0, dur)), (0.05, 0.35))
        _shards(rng, out, sr, dur, int(rng.integers(3, 8) + rng.integers(2, 10) * dur), (3000.0, 12000.0))
    elif family == "bottle":
        k = min(n, int(0.12 * sr))
        thud = _lowpass(_noise(rng, k, sr), sr, rng.uniform(150.0, 600.0), order=2)
        _add(out, _unit(thud) * _decay(k, sr, rng.uniform(0.01, 0.04)), 0, rng.uniform(0.6, 1.0))
        _crash(rng, out, sr, int(rng.uniform(0.0, 0.01) * sr), rng.uniform(0.3, 0.6))
        _partials(rng, out, sr, 0, int(rng.integers(3, 9)), (1000.0, 5000.0), (0.05, 0.4), (0.15, 0.5))
        _shards(rng, out, sr, dur, int(rng.integers(1, 5)), (2000.0, 8000.0))
    elif family == "drop":
        impacts = int(rng.integers(2, 5))
        t, gain = 0.0, 1.0
        for _ in range(impacts):
            if t >= dur - 0.1:
                break
            start = int(t * sr)
            _crash(rng, out, sr, start, gain)
            _partials(rng, out, sr, start, int(rng.integers(4, 11)), (2000.0, 9000.0), (0.01, 0.12), (0.05, 0.3 * gain + 0.05))
            t += rng.uniform(0.06, 0.3)
            gain *= rng.uniform(0.4, 0.8)
        _shards(rng, out, sr, dur, int(rng.integers(2, 6) + rng.integers(1, 6) * dur), (3000.0, 11000.0), t0=min(t, dur * 0.5))
    elif family == "tempered":
        _crash(rng, out, sr, 0, rng.uniform(0.5, 0.9))
        span = min(dur, rng.uniform(0.2, 0.7))
        count = int(rng.integers(150, 500))
        times = span * rng.exponential(0.35, count).clip(0, 1)
        k = int(0.0015 * sr) + 2
        for t in times:
            m = int(rng.uniform(0.0002, 0.0015) * sr) + 2
            grain = _highpass(_noise(rng, k, sr), sr, rng.uniform(2000.0, 6000.0))[:m] * _decay(m, sr, rng.uniform(0.0002, 0.0008))
            _add(out, grain, int(t * sr), rng.uniform(0.05, 0.5) * np.exp(-t / span))
        _partials(rng, out, sr, 0, int(rng.integers(0, 5)), (3000.0, 12000.0), (0.01, 0.08), (0.05, 0.2))
        _shards(rng, out, sr, dur, int(rng.integers(1, 5) * max(dur, 0.5)), (4000.0, 12000.0), t0=span)
    else:
        raise ValueError(f"unknown glassbreak family {family!r}")
    return _fade_end(out, sr, 0.03)


# --------------------------------------------------------------------------------------------
# gunshot


def _shot(rng, sr: float, m: int, *, crack: float, blast_decay: tuple[float, float], boom_fc: float, boom: float, muzzle_delay: float = 0.0) -> np.ndarray:
    """One discharge of ``m`` samples: N-wave crack, broadband blast, low boom, early reflections."""
    shot = np.zeros(m)
    wave = max(2, int(rng.uniform(0.0003, 0.003) * sr))
    shot[: min(wave, m)] += crack * np.linspace(1.0, -1.0, wave)[: min(wave, m)]
    start = int(muzzle_delay * sr)
    kb = min(m - start, int(0.12 * sr))
    if kb <= 16:
        return shot
    blast = _noise(rng, kb, sr, alpha=rng.uniform(0.0, 1.0), hp=60.0) * _decay(kb, sr, rng.uniform(*blast_decay))
    shot[start : start + kb] += 0.8 * blast
    low = _lowpass(_noise(rng, kb, sr), sr, boom_fc, order=2)
    shot[start : start + kb] += boom * _unit(low) * _decay(kb, sr, rng.uniform(0.015, 0.06))
    for _ in range(int(rng.integers(2, 6))):  # early reflections
        _add(shot, blast, start + int(rng.uniform(0.005, 0.04) * sr), rng.uniform(0.1, 0.4) * rng.choice([-1.0, 1.0]))
    return shot


def _tail(rng, sr: float, m: int, t60: float, lp: float, gain: float) -> np.ndarray:
    """Reverberant low-passed noise tail with a 10 ms build-up and a T60 decay."""
    tt = np.arange(m) / sr
    noise = _lowpass(_noise(rng, m, sr, alpha=0.5, hp=80.0), sr, lp, order=2)
    return gain * _unit(noise) * (1.0 - np.exp(-tt / 0.01)) * np.exp(-6.9 * tt / t60)


def _gun(rng, sr: float, dur: float, family: str) -> np.ndarray:
    """A gunshot of one family (pistol, rifle, shotgun, burst); the annotated segment ends in the tail."""
    n = int(round(dur * sr))
    out = np.zeros(n)
    t60 = float(np.clip(dur / rng.uniform(0.4, 0.7), 0.3, 3.0))
    if family == "pistol":
        shots, spacing = int(rng.choice([1, 2, 3], p=[0.6, 0.25, 0.15])), rng.uniform(0.1, 0.45)
        kw = dict(crack=1.0, blast_decay=(0.002, 0.01), boom_fc=rng.uniform(80.0, 300.0), boom=0.7)
        tail_lp, tail_gain = rng.uniform(800.0, 4000.0), rng.uniform(0.25, 0.6)
    elif family == "rifle":
        shots, spacing = int(rng.choice([1, 2], p=[0.8, 0.2])), rng.uniform(0.4, 0.9)
        kw = dict(crack=1.0, blast_decay=(0.003, 0.012), boom_fc=rng.uniform(100.0, 250.0), boom=0.6, muzzle_delay=rng.uniform(0.02, 0.15))
        tail_lp, tail_gain = rng.uniform(500.0, 2500.0), rng.uniform(0.2, 0.5)
        t60 = float(np.clip(t60 * rng.uniform(1.2, 1.8), 0.5, 3.0))
    elif family == "shotgun":
        shots, spacing = int(rng.choice([1, 2], p=[0.7, 0.3])), rng.uniform(0.3, 0.8)
        kw = dict(crack=0.5, blast_decay=(0.01, 0.03), boom_fc=rng.uniform(60.0, 160.0), boom=1.1)
        tail_lp, tail_gain = rng.uniform(600.0, 2500.0), rng.uniform(0.25, 0.55)
    elif family == "burst":
        shots, spacing = int(rng.integers(3, 11)), rng.uniform(0.06, 0.12)
        kw = dict(crack=1.0, blast_decay=(0.002, 0.006), boom_fc=rng.uniform(100.0, 300.0), boom=0.6)
        tail_lp, tail_gain = rng.uniform(800.0, 3500.0), rng.uniform(0.2, 0.45)
    else:
        raise ValueError(f"unknown gunshot family {family!r}")
    while shots > 1 and (shots - 1) * spacing > dur - 0.2:
        shots -= 1
    for s in range(shots):
        start = int(round(s * spacing * (rng.uniform(0.9, 1.1) if s else 1.0) * sr))
        m = n - start
        if m <= 16:
            break
        shot = _shot(rng, sr, m, **kw)
        if family != "burst" or s == shots - 1:
            shot += _tail(rng, sr, m, t60, tail_lp, tail_gain)
        _add(out, shot, start, 1.0 if s == 0 else rng.uniform(0.6, 1.0))
    if family == "rifle":  # discrete echoes from distant surfaces
        for _ in range(int(rng.integers(1, 5))):
            delay = int(rng.uniform(0.1, 0.8) * sr)
            if delay < n:
                echo = _lowpass(out[: n - delay].copy(), sr, rng.uniform(800.0, 3000.0))
                _add(out, echo, delay, rng.uniform(0.1, 0.35))
    return _fade_end(out, sr, 0.02)


# --------------------------------------------------------------------------------------------


#: Families per class, in the order files cycle through them.
FAMILIES = {
    "babycry": ("infant", "newborn", "toddler", "scream"),
    "glassbreak": ("pane", "bottle", "drop", "tempered"),
    "gunshot": ("pistol", "rifle", "shotgun", "burst"),
}
#: Families that occur only among the devtest sources.
HELD_OUT_FAMILIES = {"babycry": ("scream",), "glassbreak": ("tempered",), "gunshot": ("burst",)}
_GENERATORS = {"babycry": _cry, "glassbreak": _glass, "gunshot": _gun}


def split_families(class_name: str, split: str) -> tuple[str, ...]:
    """The families a split's sources of ``class_name`` are drawn from (devtrain lacks the held-out ones)."""
    if split == "devtest":
        return FAMILIES[class_name]
    return tuple(f for f in FAMILIES[class_name] if f not in HELD_OUT_FAMILIES[class_name])


def make_event_file(rng, class_name: str, sr: int, family: str) -> tuple[np.ndarray, tuple[float, float]]:
    """One dry event recording of ``family``: samples [shape=(n,)] and the event segment (start, end) in seconds.

    The event (duration uniform in ``EVENT_SECONDS[class_name]``) sits between a lead-in and a
    tail of 0.1-0.5 s; a low-level noise floor (RMS 45-60 dB below the event peak) runs through.
    """
    if family not in FAMILIES[class_name]:
        raise ValueError(f"{class_name} has no family {family!r}; families: {', '.join(FAMILIES[class_name])}")
    lo, hi = EVENT_SECONDS[class_name]
    n_event = int(round(rng.uniform(lo, hi) * sr))
    n_lead = int(round(rng.uniform(*PAD_SECONDS) * sr))
    n_tail = int(round(rng.uniform(*PAD_SECONDS) * sr))
    event = _GENERATORS[class_name](rng, float(sr), n_event / sr, family)[:n_event]
    event = event / (np.max(np.abs(event)) + 1e-20)
    n = n_lead + n_event + n_tail
    floor = _noise(rng, n, sr, alpha=rng.uniform(0.5, 1.5), hp=40.0, lp=rng.uniform(4000.0, 12000.0))
    y = floor * 10 ** (rng.uniform(-60.0, -45.0) / 20.0)
    y[n_lead : n_lead + n_event] += event
    y *= rng.uniform(0.3, 0.9) / np.max(np.abs(y))
    return y, (n_lead / sr, (n_lead + n_event) / sr)
