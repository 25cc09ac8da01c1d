"""Signal helpers of the mini generator: seeded generators, shaped noise, envelopes, filters (float64 arrays)."""

from __future__ import annotations

import zlib

import numpy as np
from scipy import signal
from scipy.fft import irfft, next_fast_len, rfftfreq


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
