"""The paper's log-mel spectrogram: librosa's definition (:func:`logmel_reference`) and our faster extractor (:func:`logmel`)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import scipy.fft

from ..audio import load_audio
from ..config import FeatureConfig
from ..errors import AudioError

#: Frames processed together by :func:`logmel`: the windowed frames and their spectrum
#: stay in the CPU cache (about 1 MB each at n_fft 2048).
_BLOCK_FRAMES = 128

#: Mel bands per dense sub-product in :func:`logmel` (see :func:`_mel_bands`).
_BANDS_PER_GROUP = 8



def _check_signal(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"expected a mono signal of shape (n,), got shape {y.shape}")
    if y.size == 0:
        raise ValueError("cannot compute features of an empty signal")
    return np.ascontiguousarray(y, dtype=np.float32)


def logmel_reference(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Log-mel spectrogram computed by librosa: the definition :func:`logmel` must match.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], mono samples (cast to float32, as :func:`load_audio` gives)
    config : the feature parameters

    Returns
    -------
    np.ndarray [shape=(1 + n // hop_length, n_mels)], float32, dB re 1.0, floored at
    ``10 log10(amin)``; no ``top_db`` clipping (NOTES section 7).
    """
    import librosa

    y = _check_signal(y)
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
        power=config.power,
    )
    db = librosa.power_to_db(mel, ref=1.0, amin=config.amin, top_db=None)
    return np.ascontiguousarray(db.T, dtype=np.float32)


@functools.lru_cache(maxsize=16)
def _hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window of ``n_fft`` samples, float32 (librosa's ``get_window('hann')``)."""
    import librosa

    window = librosa.filters.get_window("hann", n_fft, fftbins=True).astype(np.float32)
    window.setflags(write=False)
    return window


@functools.lru_cache(maxsize=16)
def _mel_bands(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> tuple:
    """librosa's mel matrix (Slaney scale and norm) cut into groups of neighbouring bands.

    Each group is ``(first_band, end_band, first_bin, end_bin, weights [bins, bands])``:
    a mel filter covers only a narrow run of FFT bins, so a product per group of 8 bands
    does about 7 % of the work of the full ``[bins, n_mels]`` product, with the same sums.
    """
    import librosa

    basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    groups = []
    for start in range(0, n_mels, _BANDS_PER_GROUP):
        sub = basis[start : start + _BANDS_PER_GROUP]
        used = np.flatnonzero(sub.any(axis=0))
        lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
        weights = np.ascontiguousarray(sub[:, lo:hi].T, dtype=np.float32)
        weights.setflags(write=False)
        groups.append((start, start + sub.shape[0], lo, hi, weights))
    return tuple(groups)


def logmel(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Log-mel spectrogram equal to :func:`logmel_reference` (within float32 rounding), faster.

    Same parameters as librosa's defaults for ``melspectrogram``: periodic Hann window,
    centred frames with zero padding (``pad_mode='constant'``), power spectrum, Slaney mel
    filters, then ``10 log10(max(amin, S))``. On one thread: for power 2 and a power-of-two
    ``n_fft`` (the paper's features) the compiled many-frames-at-once path of
    :mod:`rsed.features.melspec`; otherwise blocks of frames through scipy's float32 FFT.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], mono samples (cast to float32)
    config : the feature parameters

    Returns
    -------
    np.ndarray [shape=(1 + n // hop_length, n_mels)], float32, dB re 1.0
    """
    y = _check_signal(y)
    from . import melspec

    if melspec.supported(config.n_fft, config.power):
        out = melspec.mel_power(
            y,
            sample_rate=config.sample_rate,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            n_mels=config.n_mels,
            fmin=float(config.fmin),
            fmax=float(config.fmax),
        )
    else:
        out = _mel_power_scipy(y, config)
    np.maximum(out, np.float32(config.amin), out=out)
    np.log10(out, out=out)
    out *= np.float32(10.0)
    return out


def _mel_power_scipy(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Mel power ``[frames, n_mels]`` float32 by blocks of frames through scipy's real FFT (any n_fft, power)."""
    n_fft, hop = config.n_fft, config.hop_length
    window = _hann(n_fft)
    bands = _mel_bands(config.sample_rate, n_fft, config.n_mels, float(config.fmin), float(config.fmax))
    padded = np.pad(y, n_fft // 2, mode="constant")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]  # (T, n_fft), a view
    n_frames = frames.shape[0]
    out = np.empty((n_frames, config.n_mels), dtype=np.float32)
    buf = np.empty((min(_BLOCK_FRAMES, n_frames), n_fft), dtype=np.float32)
    for start in range(0, n_frames, _BLOCK_FRAMES):
        stop = min(start + _BLOCK_FRAMES, n_frames)
        block = buf[: stop - start]
        np.multiply(frames[start:stop], window, out=block)  # (B, n_fft)
        spec = scipy.fft.rfft(block, axis=-1, workers=1, overwrite_x=True)  # (B, n_fft // 2 + 1) complex64
        if config.power == 2.0:
            parts = spec.view(np.float32)  # interleaved real, imaginary
            power = np.square(parts[:, 0::2])
            power += np.square(parts[:, 1::2])
        else:
            power = np.abs(spec) ** np.float32(config.power)
        mel = out[start:stop]  # (B, n_mels)
        for first, end, lo, hi, weights in bands:
            np.matmul(power[:, lo:hi], weights, out=mel[:, first:end])
    return out


def extract_file(path: str | Path, config: FeatureConfig) -> np.ndarray:
    """Load an audio file at ``config.sample_rate`` and return its :func:`logmel` [frames, n_mels].

    Raises AudioError naming the file when it cannot be read (:func:`~rsed.audio.load_audio`) or
    is shorter than one model step (``frames_per_step`` frames, about 0.08 s).
    """
    y = load_audio(path, sample_rate=config.sample_rate)
    frames = logmel(y, config)
    if frames.shape[0] < config.frames_per_step:
        need = (config.frames_per_step - 1) * config.hop_length / config.sample_rate
        raise AudioError(path, f"too short: {y.size / config.sample_rate:.3f} s, a detector needs at least {need:.3f} s (one step of {config.frames_per_step} frames)")
    return frames
