"""Recording chains: what happens to a sound between its source and the file (pure functions).

The isolated events of DCASE 2017 Task 2 were collected from freesound.org: every file comes
through its own room, distance, microphone, sample rate and sometimes a lossy codec (NOTES
section 9). A :class:`RecordingChain` describes one such path; :func:`apply_chain` renders it.
The embedded mini data draws one chain per source file (:mod:`rsed.data.mini`), and training
augmentation draws a fresh one per use (:mod:`rsed.training.augment`).

Order of the stages (as sound travels): room (reverberation, synthetic impulse response),
distance (level and air absorption), microphone (low cut and peaking EQ), converter (band
limit and resampling to the native rate, clipping), codec (MP3 through libsndfile).
All functions take and return float64 mono samples; nothing here touches the disk.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from scipy import signal
from scipy.fft import irfft, next_fast_len, rfft

#: The native sample rates a source file may have (Hz).
NATIVE_RATES = (8000, 16000, 22050, 32000, 44100, 48000)


@dataclass(frozen=True)
class RecordingChain:
    """One recording path. Neutral values (0, empty) switch a stage off.

    ``native_rate`` Hz: the file's sample rate (content band-limited below half of it).
    ``eq``: peaking filters ``(centre Hz, gain dB, Q)``; ``low_cut`` Hz: microphone high-pass.
    ``rt60`` s and ``drr_db``: room reverberation and direct-to-reverberant ratio.
    ``air_cutoff`` Hz: low-pass of distance (air absorption); ``gain_db``: level change.
    ``clip``: clip at this fraction of the peak (0: no clipping).
    ``mp3_quality``: libsndfile's MP3 compression level in (0, 1] (higher: lower bit rate); 0: no codec.
    """

    native_rate: int = 44100
    eq: tuple[tuple[float, float, float], ...] = ()
    low_cut: float = 0.0
    rt60: float = 0.0
    drr_db: float = 10.0
    air_cutoff: float = 0.0
    gain_db: float = 0.0
    clip: float = 0.0
    mp3_quality: float = 0.0

    def describe(self) -> dict:
        """Plain-JSON description (for the mini data's cv_setup metadata)."""
        return {
            "native_rate": int(self.native_rate),
            "eq": [[round(float(f), 1), round(float(g), 2), round(float(q), 2)] for f, g, q in self.eq],
            "low_cut": round(float(self.low_cut), 1),
            "rt60": round(float(self.rt60), 3),
            "drr_db": round(float(self.drr_db), 2),
            "air_cutoff": round(float(self.air_cutoff), 1),
            "gain_db": round(float(self.gain_db), 2),
            "clip": round(float(self.clip), 3),
            "mp3_quality": round(float(self.mp3_quality), 3),
        }


# --------------------------------------------------------------------------------------------
# Stages


def peaking_sos(centre: float, gain_db: float, q: float, sr: float) -> np.ndarray:
    """RBJ-cookbook peaking biquad as one second-order section [shape=(1, 6)]."""
    centre = min(max(centre, 10.0), 0.45 * sr)
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * centre / sr
    alpha = math.sin(w0) / (2.0 * max(q, 0.05))
    b = np.array([1.0 + alpha * a, -2.0 * math.cos(w0), 1.0 - alpha * a])
    den = np.array([1.0 + alpha / a, -2.0 * math.cos(w0), 1.0 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]


def equalise(y: np.ndarray, sr: float, eq, low_cut: float = 0.0) -> np.ndarray:
    """Microphone colouration: a 2nd-order high-pass at ``low_cut`` Hz, then peaking filters ``eq``."""
    sections = [peaking_sos(f, g, q, sr) for f, g, q in eq]
    if low_cut > 0:
        sections.insert(0, signal.butter(2, min(low_cut, 0.45 * sr), btype="highpass", fs=sr, output="sos"))
    if not sections:
        return y
    return signal.sosfilt(np.concatenate(sections), y)


def room_impulse_response(rng: np.random.Generator, sr: float, rt60: float, drr_db: float) -> np.ndarray:
    """A synthetic room impulse response: direct path, sparse early reflections, exponential tail.

    The tail is noise whose high band (above 4 kHz) decays 1.8x faster than the low band, as
    air and walls absorb high frequencies first; its energy is ``drr_db`` below the direct path.
    Length ``min(1.2 rt60, 2 s)``; peak-normalised direct path of 1.
    """
    n = max(int(min(1.2 * rt60, 2.0) * sr), 16)
    t = np.arange(n) / sr
    noise = rng.standard_normal(n)
    sos_lo = signal.butter(2, min(4000.0, 0.45 * sr), btype="lowpass", fs=sr, output="sos")
    low = signal.sosfilt(sos_lo, noise)
    high = noise - low
    tail = low * np.exp(-6.9 * t / rt60) + high * np.exp(-6.9 * 1.8 * t / rt60)
    onset = min(n - 1, int(rng.uniform(0.002, 0.01) * sr))  # the tail builds up after the first reflections
    tail[:onset] = 0.0
    for _ in range(int(rng.integers(2, 7))):  # early reflections, 3-40 ms
        k = int(rng.uniform(0.003, 0.04) * sr)
        if k < n:
            tail[k] += rng.uniform(0.2, 0.7) * rng.choice([-1.0, 1.0]) * math.exp(-6.9 * k / sr / rt60)
    energy = float(np.sum(tail * tail)) + 1e-20
    tail *= math.sqrt(10.0 ** (-drr_db / 10.0) / energy)
    tail[0] += 1.0
    return tail


def reverberate(y: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Convolve ``y`` with an impulse response; the result keeps the tail (len(y) + len(ir) - 1)."""
    n = y.size + ir.size - 1
    m = next_fast_len(n, real=True)
    return irfft(rfft(y, m) * rfft(ir, m), m)[:n]


def band_limit(y: np.ndarray, sr: int, rate: int) -> np.ndarray:
    """Resample ``y`` from ``sr`` to ``rate`` Hz (soxr, anti-aliased): the content above rate/2 is gone."""
    if int(rate) == int(sr):
        return y
    import soxr

    return soxr.resample(np.ascontiguousarray(y, dtype=np.float64), sr, int(rate), quality="HQ")


def clip_peaks(y: np.ndarray, level: float) -> np.ndarray:
    """Hard-clip at ``level`` times the peak (an overdriven converter), then restore the peak."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if not 0.0 < level < 1.0 or peak == 0.0:
        return y
    limit = level * peak
    return np.clip(y, -limit, limit) / level


def mp3_available() -> bool:
    """Whether this libsndfile writes MP3 (libsndfile >= 1.1 built with LAME and mpg123)."""
    import soundfile as sf

    return "MP3" in sf.available_formats()


def mp3_round_trip(y: np.ndarray, sr: int, quality: float) -> np.ndarray:
    """Encode to MP3 and decode again (libsndfile/LAME, constant bit rate), aligned and cut to ``len(y)``.

    ``quality`` is libsndfile's compression level (0: best, 1: smallest). Returns ``y`` itself
    when this libsndfile cannot write MP3. The encoder delay is removed by cross-correlation.
    """
    import soundfile as sf

    if not mp3_available():
        return y
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    scale = 0.9 / peak if peak > 0.9 else 1.0  # the codec clips at full scale
    buffer = io.BytesIO()
    sf.write(buffer, y * scale, int(sr), format="MP3", subtype="MPEG_LAYER_III", compression_level=float(quality), bitrate_mode="CONSTANT")
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float64")
    if decoded.ndim > 1:
        decoded = decoded.mean(axis=1)
    lag = _delay(y, decoded, max_lag=int(0.06 * sr))
    out = np.zeros_like(y)
    part = decoded[lag : lag + y.size]
    out[: part.size] = part
    return out / scale


def _delay(reference: np.ndarray, delayed: np.ndarray, max_lag: int) -> int:
    """Lag in [0, max_lag] samples that best aligns ``delayed`` with ``reference`` (cross-correlation)."""
    n = min(reference.size, delayed.size)
    if n == 0:
        return 0
    m = next_fast_len(n + max_lag, real=True)
    corr = irfft(np.conj(rfft(reference[:n], m)) * rfft(delayed[: n + max_lag], m), m)[: max_lag + 1]
    return int(np.argmax(corr))


def apply_chain(y: np.ndarray, sr: int, chain: RecordingChain, rng: np.random.Generator) -> np.ndarray:
    """Render ``chain`` on ``y`` (samples at ``sr``); returns samples at ``chain.native_rate``.

    The reverberant tail is cut to the input length, so annotated times stay valid; ``rng``
    draws the impulse response.
    """
    y = np.asarray(y, dtype=np.float64)
    if chain.rt60 > 0:
        y = reverberate(y, room_impulse_response(rng, sr, chain.rt60, chain.drr_db))[: y.size]
    if chain.air_cutoff > 0:
        y = signal.sosfilt(signal.butter(1, min(chain.air_cutoff, 0.45 * sr), btype="lowpass", fs=sr, output="sos"), y)
    y = equalise(y, sr, chain.eq, chain.low_cut)
    y = y * 10.0 ** (chain.gain_db / 20.0)
    y = band_limit(y, sr, chain.native_rate)
    if chain.clip > 0:
        y = clip_peaks(y, chain.clip)
    if chain.mp3_quality > 0:
        y = mp3_round_trip(y, chain.native_rate, chain.mp3_quality)
    return y


# --------------------------------------------------------------------------------------------
# Drawing chains


@dataclass(frozen=True)
class ChainProfile:
    """A distribution of recording chains: each stage's probability and parameter range.

    ``rates`` and ``rate_weights``: native sample rates and their probabilities. Ranges are
    ``(low, high)``; a stage with probability 0 stays neutral.
    """

    rates: tuple[int, ...] = (44100,)
    rate_weights: tuple[float, ...] = (1.0,)
    eq_prob: float = 0.0
    eq_bands: tuple[int, int] = (1, 3)
    eq_gain_db: float = 6.0
    low_cut_prob: float = 0.0
    low_cut_hz: tuple[float, float] = (60.0, 300.0)
    reverb_prob: float = 0.0
    rt60: tuple[float, float] = (0.1, 0.6)
    drr_db: tuple[float, float] = (0.0, 12.0)
    air_prob: float = 0.0
    air_cutoff: tuple[float, float] = (3000.0, 12000.0)
    gain_db: tuple[float, float] = (0.0, 0.0)
    clip_prob: float = 0.0
    clip_level: tuple[float, float] = (0.3, 0.8)
    mp3_prob: float = 0.0
    mp3_quality: tuple[float, float] = (0.3, 0.9)


def draw_chain(rng: np.random.Generator, profile: ChainProfile) -> RecordingChain:
    """One chain from ``profile``; always draws the same number of values, so later draws do not shift."""
    u = rng.random(7)
    weights = np.asarray(profile.rate_weights, dtype=np.float64)
    rate = int(profile.rates[int(rng.choice(len(profile.rates), p=weights / weights.sum()))])
    n_bands = int(rng.integers(profile.eq_bands[0], profile.eq_bands[1] + 1))
    bands = tuple(
        (float(np.exp(rng.uniform(np.log(150.0), np.log(10000.0)))), float(rng.uniform(-profile.eq_gain_db, profile.eq_gain_db)), float(rng.uniform(0.7, 3.0)))
        for _ in range(n_bands)
    )
    low_cut = float(rng.uniform(*profile.low_cut_hz))
    rt60, drr = float(rng.uniform(*profile.rt60)), float(rng.uniform(*profile.drr_db))
    air = float(np.exp(rng.uniform(np.log(profile.air_cutoff[0]), np.log(profile.air_cutoff[1]))))
    gain = float(rng.uniform(*profile.gain_db))
    clip, mp3 = float(rng.uniform(*profile.clip_level)), float(rng.uniform(*profile.mp3_quality))
    return RecordingChain(
        native_rate=rate,
        eq=bands if u[0] < profile.eq_prob else (),
        low_cut=low_cut if u[1] < profile.low_cut_prob else 0.0,
        rt60=rt60 if u[2] < profile.reverb_prob else 0.0,
        drr_db=drr,
        air_cutoff=air if u[3] < profile.air_prob else 0.0,
        gain_db=gain,
        clip=clip if u[4] < profile.clip_prob else 0.0,
        mp3_quality=mp3 if u[5] < profile.mp3_prob and rate >= 8000 else 0.0,
    )


__all__ = [
    "NATIVE_RATES",
    "RecordingChain",
    "ChainProfile",
    "draw_chain",
    "apply_chain",
    "equalise",
    "peaking_sos",
    "room_impulse_response",
    "reverberate",
    "band_limit",
    "clip_peaks",
    "mp3_round_trip",
    "mp3_available",
]
