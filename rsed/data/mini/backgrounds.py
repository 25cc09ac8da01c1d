"""The mini dataset's backgrounds: scenes of coloured noise, textures and non-target transients.

Six scenes (cafe, home, office, park, street, train) layer coloured noise with a slowly varying
level, scene textures (mains hum, traffic swells and passing cars, wind, engine harmonics and
rail clacks, multi-talker babble with syllable-rate modulation and formants, bird chirps) and
scattered non-target transients: knocks, footsteps, claps and door thuds (impulsive, no long
tail), keyboard clicks, beeps, horns and whistles (steady harmonic tones, no vibrato),
speech-like vowels (f0 100-250 Hz, falling contour, no vibrato), clinks (short high tones
without a broadband onset) and espresso hiss. Each file gets its own overall level and
microphone colouration. Devtest backgrounds add what training never hears (:mod:`.heldout`).
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from ..chain import equalise
from .heldout import HELD_OUT_SCENE_TRANSIENTS, HELD_OUT_TRANSIENTS, HELD_OUT_VARIANTS, VARIANT_PROBABILITY, variant_layer
from .signals import _add, _bandpass, _decay, _formants, _highpass, _lowpass, _noise, _pulse, _smooth_random, _unit, _window

SCENES = ("cafe", "home", "office", "park", "street", "train")
_LOW = 4  # scene textures below ~4 kHz are generated at sample_rate / _LOW and upsampled



# --------------------------------------------------------------------------------------------
# Non-target transients (short arrays, unit-ish peak); each takes (rng, sr)


def _knocks(rng, sr, low=False):
    """Door knocks or footsteps: damped low sinusoids plus a short thud, no tail."""
    count = int(rng.integers(3, 10)) if low else int(rng.integers(1, 5))
    spacing = rng.uniform(0.45, 0.65) if low else rng.uniform(0.12, 0.35)
    f = rng.uniform(60.0, 200.0) if low else rng.uniform(100.0, 600.0)
    k = int(0.08 * sr)
    tt = np.arange(k) / sr
    out = np.zeros(int((count * spacing + 0.1) * sr))
    for i in range(count):
        tau = rng.uniform(0.006, 0.025)
        hit = np.sin(2 * np.pi * f * rng.uniform(0.95, 1.05) * tt) * np.exp(-tt / tau)
        hit += 0.6 * _lowpass(_noise(rng, k, sr), sr, rng.uniform(300.0, 2000.0)) * np.exp(-tt / rng.uniform(0.001, 0.005))
        _add(out, hit, int(i * spacing * rng.uniform(0.95, 1.05) * sr), rng.uniform(0.6, 1.0))
    return out


def _claps(rng, sr):
    """Hand claps: band-passed noise bursts with ms decays, no tail."""
    count = int(rng.integers(1, 7))
    spacing = rng.uniform(0.25, 0.5)
    k = int(0.05 * sr)
    out = np.zeros(int((count * spacing + 0.1) * sr))
    for i in range(count):
        clap = _bandpass(_noise(rng, k, sr), sr, rng.uniform(600, 1200), rng.uniform(2500, 5000), order=2)
        _add(out, _unit(clap) * _decay(k, sr, rng.uniform(0.003, 0.012)), int(i * spacing * sr), rng.uniform(0.7, 1.0))
    return out


def _door(rng, sr):
    """A door closing: low thud with a short (< 0.1 s) room decay and a small rattle."""
    k = int(0.35 * sr)
    tt = np.arange(k) / sr
    thud = _lowpass(_noise(rng, k, sr), sr, rng.uniform(120.0, 300.0), order=2)
    out = _unit(thud) * np.exp(-tt / rng.uniform(0.02, 0.07))
    rattle = _bandpass(_noise(rng, k, sr), sr, 800.0, 3000.0) * np.exp(-tt / 0.01)
    _add(out, _unit(rattle), int(rng.uniform(0.01, 0.05) * sr), rng.uniform(0.1, 0.3))
    return out


def _clicks(rng, sr):
    """Keyboard typing or switch clicks: ms-long high-passed noise ticks."""
    count = int(rng.integers(3, 20))
    k = int(0.004 * sr)
    times = np.cumsum(rng.uniform(0.06, 0.25, count))
    out = np.zeros(int((times[-1] + 0.05) * sr))
    for t in times:
        tick = _highpass(_noise(rng, k, sr), sr, rng.uniform(1000.0, 3000.0)) * _decay(k, sr, rng.uniform(0.0005, 0.0015))
        _add(out, tick, int(t * sr), rng.uniform(0.5, 1.0))
    return out


def _tone(rng, sr, f, length, harmonics=(1.0,), glide=0.0):
    """A steady (optionally linearly gliding) harmonic tone with soft edges, no vibrato."""
    k = int(length * sr)
    tt = np.arange(k) / sr
    freq = f * (1.0 + glide * tt / max(length, 1e-3))
    phase = 2 * np.pi * np.cumsum(freq) / sr
    y = sum(a * np.sin((h + 1) * phase) for h, a in enumerate(harmonics) if (h + 1) * f * (1 + max(glide, 0)) < 0.45 * sr)
    return y * _window(k, int(0.005 * sr), int(0.01 * sr))


def _beeps(rng, sr):
    """Appliance or phone beeps: one to four steady tones of 0.08-0.5 s."""
    f = rng.uniform(500.0, 3000.0)
    count = int(rng.integers(1, 5))
    length = rng.uniform(0.08, 0.5)
    gap = rng.uniform(0.1, 0.3)
    harm = (1.0, rng.uniform(0, 0.3), rng.uniform(0, 0.15))
    out = np.zeros(int((count * (length + gap) + 0.05) * sr))
    for i in range(count):
        _add(out, _tone(rng, sr, f, length, harm), int(i * (length + gap) * sr))
    return out


def _horn(rng, sr):
    """A car horn: steady, harmonic-rich tone (f0 300-500 Hz), 0.2-1 s, no vibrato."""
    f = rng.uniform(300.0, 500.0)
    harm = tuple(rng.uniform(0.2, 1.0) / (h + 1) for h in range(12))
    return _tone(rng, sr, f, rng.uniform(0.2, 1.0), harm)


def _whistle(rng, sr):
    """A whistle: near-sinusoidal tone 0.9-2.8 kHz with a slow glide and breath noise."""
    length = rng.uniform(0.3, 1.2)
    y = _tone(rng, sr, rng.uniform(900.0, 2800.0), length, (1.0, 0.05), glide=rng.uniform(-0.15, 0.15))
    return y + 0.05 * _highpass(_noise(rng, y.size, sr), sr, 2000.0) * _window(y.size, y.size // 4, y.size // 4)


_VOWELS = ((730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010), (570, 840, 2410), (300, 870, 2240), (660, 1720, 2410))


def _speech(rng, sr, fmax=5000.0):
    """A short utterance: 2-8 voiced syllables (f0 100-250 Hz, falling, no vibrato) and fricatives."""
    f0 = rng.uniform(100.0, 250.0)
    count = int(rng.integers(2, 9))
    lengths = rng.uniform(0.08, 0.3, count)
    gaps = rng.uniform(0.02, 0.15, count)
    total = float(np.sum(lengths + gaps))
    out = np.zeros(int((total + 0.2) * sr))
    t = 0.0
    for i in range(count):
        m = int(lengths[i] * sr)
        decl = 1.0 - 0.2 * t / total
        contour = f0 * decl * (1.0 + rng.uniform(-0.08, 0.12) * np.linspace(0, 1, m))
        vowel = _VOWELS[int(rng.integers(len(_VOWELS)))]
        f1, f2 = vowel[0] * rng.uniform(0.9, 1.1), vowel[1] * rng.uniform(0.9, 1.1)
        form = [(f1, 100.0, 1.0), (f2, 150.0, 0.5), (vowel[2], 250.0, 0.25)]
        src = _lowpass(_pulse(contour, sr, fmax, rng), sr, 2.0 * f0)
        y = _unit(_formants(_unit(src), sr, form)) * _window(m, int(0.02 * sr), int(0.04 * sr))
        _add(out, y, int(t * sr), rng.uniform(0.5, 1.0))
        if rng.random() < 0.3:  # fricative
            k = int(rng.uniform(0.05, 0.12) * sr)
            fric = _highpass(_noise(rng, k, sr), sr, rng.uniform(3000.0, 5000.0)) * _window(k, k // 4, k // 4)
            _add(out, fric, int((t + lengths[i]) * sr), rng.uniform(0.1, 0.3))
        t += lengths[i] + gaps[i]
    return out


def _clink(rng, sr):
    """Cups and cutlery: 1-3 high partials (1.5-8 kHz) with smooth ms onset, no broadband click."""
    k = int(0.4 * sr)
    tt = np.arange(k) / sr
    out = np.zeros(k + int(0.3 * sr))
    for c in range(int(rng.integers(1, 3))):
        y = np.zeros(k)
        for _ in range(int(rng.integers(1, 4))):
            f = rng.uniform(1500.0, min(8000.0, 0.45 * sr))
            amp, phase, tau = rng.uniform(0.3, 1.0), rng.uniform(0, 2 * np.pi), rng.uniform(0.02, 0.15)
            y += amp * np.sin(2 * np.pi * f * tt + phase) * np.exp(-tt / tau)
        y *= _window(k, int(rng.uniform(0.002, 0.005) * sr), 0)
        _add(out, y, int(c * rng.uniform(0.1, 0.3) * sr), rng.uniform(0.6, 1.0))
    return out


def _hiss(rng, sr):
    """Espresso machine or kettle: 2-6 s of band-limited hiss with soft edges."""
    k = int(rng.uniform(2.0, 6.0) * sr)
    y = _noise(rng, k, sr, alpha=0.0, hp=rng.uniform(1500.0, 3000.0), lp=rng.uniform(6000.0, 10000.0))
    return y * _window(k, int(0.3 * sr), int(0.5 * sr)) * 0.3


def _chirps(rng, sr):
    """A bird: a bout of 2-10 FM chirps (2-7 kHz, 30-150 ms)."""
    count = int(rng.integers(2, 11))
    f1, f2 = rng.uniform(2000.0, min(7000.0, 0.4 * sr), 2)
    length = rng.uniform(0.03, 0.15)
    spacing = length + rng.uniform(0.04, 0.2)
    out = np.zeros(int((count * spacing + 0.1) * sr))
    k = int(length * sr)
    tt = np.arange(k) / sr
    for i in range(count):
        freq = f1 + (f2 - f1) * (tt / length) ** rng.uniform(0.5, 2.0)
        phase = 2 * np.pi * np.cumsum(freq) / sr
        y = (np.sin(phase) + 0.15 * np.sin(2 * phase)) * np.hanning(k)
        _add(out, y, int(i * spacing * sr), rng.uniform(0.5, 1.0))
    return out


TRANSIENTS = {
    "knock": _knocks,
    "footsteps": lambda rng, sr: _knocks(rng, sr, low=True),
    "clap": _claps,
    "door": _door,
    "click": _clicks,
    "beep": _beeps,
    "horn": _horn,
    "whistle": _whistle,
    "speech": _speech,
    "clink": _clink,
    "hiss": _hiss,
    "bird": _chirps,
}

#: Per scene: transient -> (occurrences per minute, level range in dB relative to the floor RMS).
SCENE_TRANSIENTS = {
    "cafe": {
        "clink": (12, (0, 14)),
        "speech": (8, (0, 12)),
        "hiss": (0.7, (-3, 6)),
        "knock": (2, (0, 14)),
        "beep": (0.5, (-3, 8)),
        "click": (1, (0, 10)),
    },
    "home": {
        "knock": (3, (3, 18)),
        "door": (1.5, (3, 16)),
        "clink": (2, (0, 12)),
        "beep": (1.5, (0, 12)),
        "speech": (4, (0, 14)),
        "click": (2, (0, 12)),
        "footsteps": (1, (0, 12)),
    },
    "office": {
        "click": (6, (0, 14)),
        "beep": (1.5, (0, 12)),
        "speech": (4, (0, 14)),
        "knock": (1, (3, 16)),
        "clink": (1, (0, 12)),
        "door": (0.7, (3, 14)),
    },
    "park": {
        "bird": (15, (-3, 12)),
        "speech": (3, (-3, 10)),
        "clap": (1, (0, 14)),
        "whistle": (1, (0, 12)),
        "footsteps": (2, (0, 12)),
        "knock": (0.5, (0, 12)),
    },
    "street": {
        "footsteps": (3, (0, 12)),
        "horn": (1, (0, 12)),
        "speech": (3, (0, 12)),
        "clap": (0.5, (0, 12)),
        "knock": (1, (0, 14)),
        "door": (0.7, (3, 16)),
        "bird": (1, (-3, 8)),
    },
    "train": {
        "speech": (4, (0, 12)),
        "beep": (0.7, (0, 10)),
        "door": (0.7, (3, 14)),
        "knock": (1, (0, 12)),
        "click": (1, (0, 10)),
    },
}


# --------------------------------------------------------------------------------------------
# Scene textures (generated at sr / _LOW; unit-RMS layers)


def _syllables(rng, n: int, sr: float) -> np.ndarray:
    """Syllable-rate (3-6 Hz) amplitude envelope with phrase pauses, shape (n,)."""
    env = np.zeros(n)
    t = rng.uniform(0.0, 1.0)
    rate = rng.uniform(3.0, 6.0)
    dur = n / sr
    while t < dur:
        if rng.random() < 0.08:
            t += rng.uniform(0.3, 1.5)
            continue
        length = rng.uniform(0.6, 1.4) / rate
        k = int(length * sr)
        _add(env, np.hanning(k) * rng.uniform(0.4, 1.0), int(t * sr))
        t += length * rng.uniform(0.8, 1.1)
    return env


def _babble(rng, n: int, sr: float, talkers: int) -> np.ndarray:
    """Multi-talker babble: voiced pulse trains (f0 100-250 Hz) plus noise, formants, syllable AM."""
    base = _noise(rng, n + int(sr), sr, alpha=1.0, hp=100.0, lp=3500.0)
    out = np.zeros(n)
    for _ in range(talkers):
        f0 = rng.uniform(100.0, 250.0) * _smooth_random(rng, n, sr, 2.0, 0.85, 1.15)
        src = _unit(_lowpass(_pulse(f0, sr, 0.4 * sr, rng), sr, 300.0))
        shift = int(rng.integers(0, int(sr)))
        src = src + 0.4 * base[shift : shift + n]
        vowel = _VOWELS[int(rng.integers(len(_VOWELS)))]
        y = _formants(src, sr, [(vowel[0], 200.0, 1.0), (vowel[1], 300.0, 0.5)])
        out += _unit(y) * _syllables(rng, n, sr) * rng.uniform(0.3, 1.0)
    return _unit(out)


def _cars(rng, n: int, sr: float, per_minute: float) -> np.ndarray:
    """Passing vehicles: band-passed noise under Gaussian swells of 2-6 s."""
    dur = n / sr
    env = np.zeros(n)
    t = np.arange(n) / sr
    for _ in range(int(rng.poisson(per_minute * dur / 60.0)) + 1):
        centre, width = rng.uniform(-2.0, dur + 2.0), rng.uniform(1.0, 3.0)
        lo, hi = max(0, int((centre - 3 * width) * sr)), min(n, int((centre + 3 * width) * sr))
        if hi > lo:
            env[lo:hi] += rng.uniform(0.3, 1.0) * np.exp(-0.5 * ((t[lo:hi] - centre) / width) ** 2)
    return _noise(rng, n, sr, alpha=1.0, hp=80.0, lp=rng.uniform(1200.0, 2500.0)) * env


def _hum(rng, n: int, sr: float, f: float, harmonics: int) -> np.ndarray:
    """Mains or engine hum: f and its harmonics with random amplitudes, shape (n,)."""
    tt = np.arange(n) / sr
    y = np.zeros(n)
    for h in range(1, harmonics + 1):
        amp, phase = rng.uniform(0.1, 1.0) / h, rng.uniform(0, 2 * np.pi)
        y += amp * np.sin(2 * np.pi * f * h * tt + phase)
    return _unit(y)


def _scene_low(rng, scene: str, n: int, sr: float) -> np.ndarray:
    """The scene's low-frequency textures at rate ``sr`` (already /_LOW), unit RMS, shape (n,)."""
    db = lambda lo, hi: 10 ** (rng.uniform(lo, hi) / 20.0)  # noqa: E731
    swell = lambda rate, depth: 10 ** (_smooth_random(rng, n, sr, rate, -depth, depth) / 20.0)  # noqa: E731
    layers = []
    if scene in ("home", "office", "cafe"):
        layers.append(db(-25, -10) * _hum(rng, n, sr, float(rng.choice([50.0, 60.0])), 6))
    if scene == "cafe":
        layers.append(db(-3, 3) * _babble(rng, n, sr, int(rng.integers(4, 9))))
    if scene == "office":
        layers.append(db(-10, -2) * _noise(rng, n, sr, alpha=1.0, hp=60.0, lp=rng.uniform(600.0, 1500.0)))
        if rng.random() < 0.5:
            layers.append(db(-14, -6) * _babble(rng, n, sr, int(rng.integers(1, 4))))
    if scene == "home" and rng.random() < 0.6:  # television in another room
        layers.append(db(-14, -4) * _lowpass(_babble(rng, n, sr, int(rng.integers(1, 3))), sr, 2500.0))
    if scene == "street":
        layers.append(db(-3, 3) * _noise(rng, n, sr, alpha=2.0, hp=25.0, lp=rng.uniform(300.0, 600.0)) * swell(0.1, 6.0))
        layers.append(db(-3, 4) * _cars(rng, n, sr, rng.uniform(6.0, 14.0)))
        layers.append(db(-16, -8) * _babble(rng, n, sr, 2))
    if scene == "park":
        layers.append(db(-4, 2) * _noise(rng, n, sr, alpha=1.8, hp=30.0, lp=rng.uniform(500.0, 1500.0)) * swell(0.6, 8.0))
        layers.append(db(-14, -6) * _noise(rng, n, sr, alpha=2.0, hp=25.0, lp=400.0))
        layers.append(db(-16, -6) * _babble(rng, n, sr, int(rng.integers(1, 3))))
    if scene == "train":
        layers.append(db(0, 4) * _noise(rng, n, sr, alpha=2.0, hp=25.0, lp=rng.uniform(200.0, 400.0)) * swell(0.2, 4.0))
        f0 = rng.uniform(30.0, 90.0) * _smooth_random(rng, n, sr, 0.1, 0.9, 1.1)
        layers.append(db(-10, -3) * _unit(_lowpass(_pulse(f0, sr, 600.0, rng), sr, 200.0)))
        layers.append(db(-12, -4) * _babble(rng, n, sr, int(rng.integers(1, 4))))
        clacks = np.zeros(n)  # rail joints: knock pairs at a steady period
        period, pair = rng.uniform(0.8, 1.6), rng.uniform(0.1, 0.2)
        k = int(0.06 * sr)
        tt = np.arange(k) / sr
        hit = np.sin(2 * np.pi * rng.uniform(60.0, 150.0) * tt) * np.exp(-tt / 0.012)
        for t in np.arange(rng.uniform(0, period), n / sr, period):
            _add(clacks, hit, int(t * sr))
            _add(clacks, hit, int((t + pair) * sr), 0.8)
        layers.append(db(-2, 6) * _unit(clacks))
    if not layers:
        return np.zeros(n)
    return sum(layers)


def make_background(rng, scene: str, seconds: float, sr: int, split: str = "devtrain") -> tuple[np.ndarray, str | None]:
    """One background recording of ``scene``: samples [shape=(round(seconds*sr),)], peak < 1, and its held-out variant.

    Full-band coloured noise floor with a slow level drift, the scene's textures (made at
    ``sr / 4`` and upsampled) and Poisson-scattered non-target transients; overall RMS is
    uniform in -45 to -25 dBFS. A ``devtest`` background also holds the held-out distractors
    and, with probability :data:`.heldout.VARIANT_PROBABILITY`, its scene's held-out variant,
    whose name is returned (None otherwise). Last, a mild microphone colouration (two peaks of
    +-3 dB): every background file has its own.
    """
    n = int(round(seconds * sr))
    low_n = -(-n // _LOW)
    low = _scene_low(rng, scene, low_n, sr / _LOW)
    y = _noise(rng, n, sr, alpha=rng.uniform(0.8, 1.8), hp=30.0, lp=rng.uniform(3000.0, 9000.0))
    if np.any(low):
        y += signal.resample_poly(low, _LOW, 1)[:n]
    variant = None
    if split == "devtest" and rng.random() < VARIANT_PROBABILITY:
        variant = HELD_OUT_VARIANTS[scene]
        y = _unit(y) + 10 ** (rng.uniform(-6.0, 2.0) / 20.0) * variant_layer(rng, variant, n, float(sr))
    drift = np.repeat(10 ** (_smooth_random(rng, low_n, sr / _LOW, 0.2, -3.0, 3.0) / 20.0), _LOW)[:n]
    y = _unit(y * drift)
    sources = [(TRANSIENTS, SCENE_TRANSIENTS[scene])]
    if split == "devtest":
        sources.append((HELD_OUT_TRANSIENTS, HELD_OUT_SCENE_TRANSIENTS[scene]))
    for makers, rates in sources:
        for name, (per_minute, (lo_db, hi_db)) in rates.items():
            for _ in range(int(rng.poisson(per_minute * seconds / 60.0))):
                x = makers[name](rng, float(sr))
                active = x[np.abs(x) > 0.05 * np.max(np.abs(x))]
                gain = 10 ** (rng.uniform(lo_db, hi_db) / 20.0) / (np.sqrt(np.mean(active**2)) + 1e-20)
                _add(y, x, int(rng.uniform(-0.2, seconds) * sr), gain)
    bands = [(float(np.exp(rng.uniform(np.log(200.0), np.log(8000.0)))), float(rng.uniform(-3.0, 3.0)), float(rng.uniform(0.7, 2.0))) for _ in range(2)]
    y = equalise(y, float(sr), bands)
    y *= 10 ** (rng.uniform(-45.0, -25.0) / 20.0) / np.sqrt(np.mean(y * y))
    peak = np.max(np.abs(y))
    if peak > 0.95:
        y *= 0.95 / peak
    return y, variant
