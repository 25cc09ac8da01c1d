"""Reading and writing audio: validated, mono, at the requested sample rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import AudioError
from .fileio import atomic_path


def load_audio(path: str | Path, sample_rate: int | None = 44100, *, mono: bool = True) -> np.ndarray:
    """Load an audio file as float32 samples in [-1, 1].

    Parameters
    ----------
    path : audio file (anything libsndfile reads: WAV, FLAC, OGG, ...)
    sample_rate : resample to this rate (soxr, via librosa) when the file differs;
        ``None`` keeps the file's rate.
    mono : average all channels into one (a documented conversion).

    Returns
    -------
    y : np.ndarray [shape=(n,) if mono else (channels, n)], float32

    Raises
    ------
    AudioError naming the file: missing, not audio, no samples, NaN or infinite samples.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found" if not path.exists() else "not a regular file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(path, f"not a readable audio file ({exc})") from None
    if data.shape[0] == 0:
        raise AudioError(path, "audio file holds no samples")
    if not np.all(np.isfinite(data)):
        raise AudioError(path, "audio holds NaN or infinite samples")
    y = data.T  # (channels, n)
    if mono:
        y = y.mean(axis=0)
    if sample_rate is not None and rate != sample_rate:
        import librosa

        y = librosa.resample(y, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(y, dtype=np.float32)


def audio_info(path: str | Path) -> sf._SoundFileInfo:
    """Header information (rate, channels, frames) of an audio file, with a clear error."""
    path = Path(path)
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(path, f"not a readable audio file ({exc})") from None


def write_audio(path: str | Path, y: np.ndarray, sample_rate: int, *, subtype: str = "PCM_24") -> None:
    """Write mono float samples atomically (24-bit PCM WAV by default, as DCASE mixtures are)."""
    y = np.asarray(y, dtype=np.float64)
    if not np.all(np.isfinite(y)):
        raise AudioError(path, "refusing to write NaN or infinite samples")
    with atomic_path(path) as tmp:
        sf.write(str(tmp), y, sample_rate, subtype=subtype, format="WAV")
