"""The embedded mini dataset: a small synthetic copy of the DCASE 2017 Task 2 *sources*.

:func:`generate_mini` writes, deterministically from a seed and in seconds, the development
set's source layout (NOTES section 2): ``data/source_data/bgs/<scene>/*.wav``,
``events/<class>/*.wav`` and the four ``cv_setup`` YAML files. The mixture synthesizer
(:mod:`rsed.data.mixing`) then runs on it exactly as on the real data.

The sounds are built to be a *fair* small copy of the task, not "noise plus a tone": a detector
must learn what a baby cry, a glass break or a gunshot sounds like, because the backgrounds hold
non-target sounds of the same broad kinds at comparable levels.

Backgrounds (six scenes: cafe, home, office, park, street, train) layer coloured noise with a
slowly varying level, scene textures (mains hum, traffic swells and passing cars, wind, engine
harmonics and rail clacks, multi-talker babble with syllable-rate modulation and formants, bird
chirps) and scattered non-target transients: knocks, footsteps, claps and door thuds (impulsive,
no long tail), keyboard clicks, beeps, horns and whistles (steady harmonic tones, no vibrato),
speech-like vowels (f0 100-250 Hz, falling contour, no vibrato), clinks (short high tones
without a broadband onset) and espresso hiss. Each file gets its own overall level.

Events (the annotated segment inside each file, with a 0.1-0.5 s low-level lead-in and tail):

- ``babycry`` (1-4 s): cry bursts separated by short gaps and inhalations; harmonic source with
  a base f0 of 300-500 Hz that rises and falls by 10-35 % within each burst, 5-8 Hz vibrato,
  formant-like resonances and breath noise.
- ``glassbreak`` (0.5-2 s): a sharp broadband crash of a few ms, sparse inharmonic ringing
  partials between 2 and 12 kHz with individual exponential decays, then tinkling fragments.
- ``gunshot`` (0.3-2 s): an N-wave crack, a broadband blast and a low boom with fast decays,
  early reflections and a reverberant low-passed noise tail; sometimes two or three shots.

Every file has its own random stream (:class:`numpy.random.SeedSequence` keyed by the seed, the
split, the kind and the index), so the output is byte-identical for a seed, ``devtrain`` and
``devtest`` sources are different draws, and file *i* does not change when the counts change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import sys
import zlib
from pathlib import Path

import numpy as np
from scipy import signal
from scipy.fft import irfft, next_fast_len, rfftfreq
from tqdm import tqdm

from .. import __version__
from ..audio import write_audio
from ..config import MiniDataConfig
from ..errors import DataError
from ..fileio import write_json, write_yaml
from ..parallel import ordered_map, resolve_workers
from .layout import MIXTURE_DIR, SOURCE_DIR, SPLITS

#: Version of the generator: part of the marker, a new version regenerates.
MINI_VERSION = 3
MARKER = "mini.json"
PARTIAL_MARKER = "mini.partial.json"
SCENES = ("cafe", "home", "office", "park", "street", "train")
#: Duration range (seconds) of the annotated event segment per class.
EVENT_SECONDS = {"babycry": (1.0, 4.0), "glassbreak": (0.5, 2.0), "gunshot": (0.3, 2.0)}
#: Range (seconds) of the low-level lead-in before and tail after the event in an event file.
PAD_SECONDS = (0.1, 0.5)
SUBTYPE = "PCM_16"
_LOW = 4  # scene textures below ~4 kHz are generated at sample_rate / _LOW and upsampled


# --------------------------------------------------------------------------------------------
# Signal helpers (all return float64 arrays)


def _rng(seed: int, *keys) -> np.random.Generator:
    """An independent generator for one file, keyed by strings and integers."""
    words = [int(seed)] + [k if isinstance(k, int) else zlib.crc32(str(k).encode("utf-8")) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


def _unit(x: np.ndarray) -> np.ndarray:
    """``x`` scaled to unit RMS."""
    return x / (np.sqrt(np.mean(x * x)) + 1e-20)


def _noise(
    rng, n: int, sr: float, alpha: float = 0.0, hp: float = 20.0, lp: float | None = None, lp_order: int = 2, bands=()
) -> np.ndarray:
    """Gaussian noise of unit RMS, shape (n,), with power spectrum ~ f^-alpha.

    High-passed at ``hp`` Hz (2nd order), optionally low-passed at ``lp`` Hz, and multiplied
    by resonances ``bands`` = [(centre Hz, width Hz, gain), ...]. Shaped in the frequency domain.
    """
    m = next_fast_len(max(n, 16), real=True)
    f = rfftfreq(m, 1.0 / sr)
    mag = np.maximum(f, 1.0) ** (-alpha / 2.0)
    r = (f / hp) ** 2
    mag *= r / np.sqrt(1.0 + r * r)
    if lp is not None:
        mag /= np.sqrt(1.0 + (f / lp) ** (2 * lp_order))
    for centre, width, gain in bands:
        mag *= 1.0 + gain / (1.0 + ((f - centre) / width) ** 2)
    spec = (rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size)) * mag
    return _unit(irfft(spec, m)[:n])


def _smooth_random(rng, n: int, sr: float, rate: float, lo: float, hi: float) -> np.ndarray:
    """Random values in [lo, hi] at ``rate`` points per second, cosine-interpolated to n samples."""
    k = int(np.ceil(n / sr * rate)) + 2
    pts = rng.uniform(lo, hi, k)
    pos = np.arange(n) * (rate / sr)
    i = pos.astype(np.int64)
    w = 0.5 - 0.5 * np.cos(np.pi * (pos - i))
    return pts[i] * (1.0 - w) + pts[i + 1] * w


def _window(n: int, attack: int, release: int) -> np.ndarray:
    """Raised-cosine attack and release of the given lengths (samples) on a flat top."""
    w = np.ones(n)
    a, r = min(attack, n // 2), min(release, n // 2)
    if a > 0:
        w[:a] = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    if r > 0:
        w[n - r :] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(1, r + 1) / r)
    return w


def _decay(n: int, sr: float, tau: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (sr * tau))


def _add(dst: np.ndarray, src: np.ndarray, start: int, gain: float = 1.0) -> None:
    """Add ``gain * src`` into ``dst`` at ``start`` (clipped to ``dst``)."""
    if start >= dst.size or start + src.size <= 0:
        return
    a = max(start, 0)
    b = min(start + src.size, dst.size)
    dst[a:b] += gain * src[a - start : b - start]


def _pulse(f0: np.ndarray, sr: float, fmax: float, rng) -> np.ndarray:
    """Band-limited pulse train following the f0 contour [Hz, shape (n,)]: sum of cos(k phase), k <= fmax / max f0."""
    phase = np.mod(2.0 * np.pi * np.cumsum(f0) / sr + rng.uniform(0, 2 * np.pi), 2.0 * np.pi)
    k = max(1, int(fmax / float(np.max(f0))))
    s = np.sin(0.5 * phase)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.sin((k + 0.5) * phase) / (2.0 * s) - 0.5
    d = np.where(np.abs(s) < 1e-6, float(k), d)
    return d / k


def _bandpass(x: np.ndarray, sr: float, lo: float, hi: float, order: int = 1) -> np.ndarray:
    hi = min(hi, 0.45 * sr)
    lo = min(max(lo, 10.0), hi * 0.9)
    return signal.sosfilt(signal.butter(order, [lo, hi], btype="bandpass", fs=sr, output="sos"), x)


def _lowpass(x: np.ndarray, sr: float, fc: float, order: int = 1) -> np.ndarray:
    return signal.sosfilt(signal.butter(order, min(fc, 0.45 * sr), btype="lowpass", fs=sr, output="sos"), x)


def _highpass(x: np.ndarray, sr: float, fc: float, order: int = 2) -> np.ndarray:
    return signal.sosfilt(signal.butter(order, min(fc, 0.45 * sr), btype="highpass", fs=sr, output="sos"), x)


def _formants(x: np.ndarray, sr: float, formants) -> np.ndarray:
    """Parallel resonator bank: sum of band-passes [(centre Hz, bandwidth Hz, gain), ...]."""
    y = np.zeros_like(x)
    for centre, width, gain in formants:
        y += gain * _bandpass(x, sr, centre - width / 2.0, centre + width / 2.0)
    return y


def _fade_end(x: np.ndarray, sr: float, seconds: float = 0.03) -> np.ndarray:
    m = min(x.size, int(seconds * sr))
    if m > 0:
        x[-m:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(1, m + 1) / m)
    return x


# --------------------------------------------------------------------------------------------
# Target events


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


def make_background(rng, scene: str, seconds: float, sr: int) -> np.ndarray:
    """One background recording of ``scene``: samples [shape=(round(seconds*sr),)], peak < 1.

    Full-band coloured noise floor with a slow level drift, the scene's textures (made at
    ``sr / 4`` and upsampled) and Poisson-scattered non-target transients; overall RMS is
    uniform in -45 to -25 dBFS.
    """
    n = int(round(seconds * sr))
    low_n = -(-n // _LOW)
    low = _scene_low(rng, scene, low_n, sr / _LOW)
    y = _noise(rng, n, sr, alpha=rng.uniform(0.8, 1.8), hp=30.0, lp=rng.uniform(3000.0, 9000.0))
    if np.any(low):
        y += signal.resample_poly(low, _LOW, 1)[:n]
    drift = np.repeat(10 ** (_smooth_random(rng, low_n, sr / _LOW, 0.2, -3.0, 3.0) / 20.0), _LOW)[:n]
    y = _unit(y * drift)
    for name, (per_minute, (lo_db, hi_db)) in SCENE_TRANSIENTS[scene].items():
        for _ in range(int(rng.poisson(per_minute * seconds / 60.0))):
            x = TRANSIENTS[name](rng, float(sr))
            active = x[np.abs(x) > 0.05 * np.max(np.abs(x))]
            gain = 10 ** (rng.uniform(lo_db, hi_db) / 20.0) / (np.sqrt(np.mean(active**2)) + 1e-20)
            _add(y, x, int(rng.uniform(-0.2, seconds) * sr), gain)
    y *= 10 ** (rng.uniform(-45.0, -25.0) / 20.0) / np.sqrt(np.mean(y * y))
    peak = np.max(np.abs(y))
    if peak > 0.95:
        y *= 0.95 / peak
    return y


# --------------------------------------------------------------------------------------------
# The tree


def _marker(config: MiniDataConfig) -> dict:
    cfg = {
        "seed": int(config.seed),
        "events_per_class_per_split": int(config.events_per_class_per_split),
        "bgs_per_scene_per_split": int(config.bgs_per_scene_per_split),
        "background_seconds": float(config.background_seconds),
        "sample_rate": int(config.sample_rate),
        "classes": [str(c) for c in config.classes],
    }
    missing = {f.name for f in dataclasses.fields(config)} - set(cfg)
    if missing:  # a field added to MiniDataConfig must be added here too
        raise RuntimeError(f"the mini marker does not know MiniDataConfig field(s) {sorted(missing)}")
    return {"generator_version": MINI_VERSION, "config": cfg}


def _read_marker(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _check_config(config: MiniDataConfig) -> None:
    unknown = [c for c in config.classes if c not in EVENT_GENERATORS]
    if unknown:
        known = ", ".join(EVENT_GENERATORS)
        raise ValueError(f"mini dataset has no generator for class(es) {', '.join(unknown)}; known: {known}")
    if not config.classes:
        raise ValueError("MiniDataConfig.classes is empty")
    if int(config.seed) < 0:
        raise ValueError(f"MiniDataConfig.seed must be non-negative, got {config.seed}")
    if config.events_per_class_per_split < 1 or config.bgs_per_scene_per_split < 1:
        raise ValueError("MiniDataConfig needs at least one event per class and one background per scene per split")
    if not config.background_seconds >= 1.0:
        raise ValueError(f"MiniDataConfig.background_seconds must be >= 1, got {config.background_seconds}")
    if config.sample_rate < 16000:
        raise ValueError(f"MiniDataConfig.sample_rate must be >= 16000 Hz, got {config.sample_rate}")


@dataclasses.dataclass(frozen=True)
class _SourceJob:
    """One source file of the mini tree: a background of a scene or an event of a class, ``i``-th of its split."""

    base: Path
    config: MiniDataConfig
    kind: str
    split: str
    name: str
    i: int


def _write_source(job: _SourceJob) -> dict:
    """Generate and write one source file (its own seeded generator); return its cv_setup yaml entry."""
    rng = _rng(job.config.seed, job.split, job.kind, job.name, job.i)
    sr = int(job.config.sample_rate)
    filename = f"{job.name}_{job.split}_{job.i:03d}.wav"
    if job.kind == "bg":
        y = make_background(rng, job.name, float(job.config.background_seconds), sr)
        write_audio(job.base / "bgs" / job.name / filename, y, sr, subtype=SUBTYPE)
        return {"filepath": f"{job.name}/{filename}", "classname": job.name}
    y, (start, end) = make_event_file(rng, job.name, sr)
    write_audio(job.base / "events" / job.name / filename, y, sr, subtype=SUBTYPE)
    return {"audio_filename": filename, "segment": [start, end]}


def generate_mini(root: str | Path, config: MiniDataConfig = MiniDataConfig(), progress: bool = True, workers: int | None = None) -> Path:
    """Write the mini source tree under ``root/data/source_data`` and return ``root``.

    Idempotent: when ``source_data/mini.json`` (written last) records the same config and
    generator version, nothing is done. A different config regenerates the tree and removes
    ``root/data/mixture_data`` (mixtures made from the old sources). A ``source_data`` folder
    that holds files but no mini marker is never touched: a DataError is raised instead.

    Parameters
    ----------
    root : data root (created if missing).
    config : seed, number of events per class and backgrounds per scene per split, background
        length (s), sample rate (Hz), classes (any of babycry, glassbreak, gunshot).
    progress : show a tqdm progress bar (only on a terminal).
    workers : processes generating files (default: every available core); the files are the
        same for any number, each is made by its own seeded generator.
    """
    _check_config(config)
    root = Path(root)
    base = root / SOURCE_DIR
    marker_path, partial_path = base / MARKER, base / PARTIAL_MARKER
    wanted = _marker(config)
    found = _read_marker(marker_path)
    if isinstance(found, dict) and all(found.get(key) == value for key, value in wanted.items()):
        return root
    if base.exists():
        ours = marker_path.exists() or partial_path.exists()
        if not ours and any(base.iterdir()):
            raise DataError(base, "holds files not written by the mini generator; refusing to overwrite (use an empty root)")
        marker_path.unlink(missing_ok=True)
        for name in ("bgs", "events", "cv_setup"):
            shutil.rmtree(base / name, ignore_errors=True)
        shutil.rmtree(root / MIXTURE_DIR, ignore_errors=True)
    base.mkdir(parents=True, exist_ok=True)
    write_json(partial_path, wanted)

    jobs = []
    for split in SPLITS:
        for scene in SCENES:
            for i in range(config.bgs_per_scene_per_split):
                jobs.append(_SourceJob(base, config, "bg", split, scene, i))
        for class_name in config.classes:
            for i in range(config.events_per_class_per_split):
                jobs.append(_SourceJob(base, config, "event", split, class_name, i))
    events_yaml = {split: {c: [] for c in config.classes} for split in SPLITS}
    bgs_yaml = {split: [] for split in SPLITS}
    disable = True if not progress else not sys.stderr.isatty()
    with contextlib.closing(ordered_map(_write_source, jobs, resolve_workers(workers, len(jobs)))) as written:
        for job, entry in tqdm(zip(jobs, written), total=len(jobs), desc="mini dataset", unit="file", disable=disable):
            if job.kind == "bg":
                bgs_yaml[job.split].append(entry)
            else:
                events_yaml[job.split][job.name].append(entry)
    for split in SPLITS:
        write_yaml(base / "cv_setup" / f"events_{split}.yaml", events_yaml[split])
        write_yaml(base / "cv_setup" / f"bgs_{split}.yaml", bgs_yaml[split])
    write_json(marker_path, {**wanted, "rsed_version": __version__, "scenes": list(SCENES)})
    partial_path.unlink(missing_ok=True)
    return root


__all__ = ["generate_mini", "make_background", "make_event_file", "EVENT_SECONDS", "SCENES", "MINI_VERSION", "MARKER"]
