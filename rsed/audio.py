"""Reading and writing audio: validated, mono, at the requested sample rate.

What :func:`load_audio` does with unusual input (docs/robustness.md):

- refused with an :class:`~rsed.errors.AudioError` naming the file: missing, a folder,
  unreadable (permissions), not audio, a truncated file (fewer samples than its header
  declares), no samples, NaN or infinite samples, a sample rate below
  :data:`MIN_SAMPLE_RATE`;
- converted, as documented: several channels are averaged to one, another sample rate is
  resampled (soxr, high quality) to the requested rate. Audio recorded below the requested
  rate is upsampled with a warning: the bands above half its rate stay empty, so features
  and detections differ from those of full-band audio;
- accepted with a warning: digital silence (every sample zero); its log-mel features sit at
  the log floor (``10 log10(amin)``, -100 dB) and no event is detected in it;
- accepted as is: float files whose samples exceed [-1, 1] (legal in float WAV); they are not
  clipped or rescaled.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import AudioError
from .fileio import atomic_path

log = logging.getLogger(__name__)

#: Lowest sample rate accepted (telephone audio); a lower rate is refused as unusable or a broken header.
MIN_SAMPLE_RATE = 8000

#: Errors soundfile/libsndfile raise for files it cannot decode (found by tests/test_fuzz.py).
_DECODE_ERRORS = (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OverflowError, EOFError, MemoryError)

#: libsndfile's header log line for a WAV/W64/RF64 data chunk shorter than its header says.
_DATA_SHORT = re.compile(r"^data\s*:\s*(?P<declared>\d+)\s*\(should be (?P<actual>\d+)\)", re.MULTILINE)

#: Data sizes that streaming recorders write while recording (the real size is the rest of the file).
_PLACEHOLDER_SIZES = (0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000, 0xFFFFFFFF - 0x7F)


def _truncation(header_log: str) -> str | None:
    """Why a WAV-like file is truncated according to libsndfile's header log, or ``None``."""
    match = _DATA_SHORT.search(header_log or "")
    if not match:
        return None
    declared, actual = int(match["declared"]), int(match["actual"])
    if declared in _PLACEHOLDER_SIZES or declared <= actual + 1:  # +1: the pad byte of an odd chunk
        return None
    return f"truncated: its header declares {declared} bytes of samples, the file holds {actual}; copy or download it again"


def check_audio_path(path: str | Path) -> None:
    """An AudioError naming ``path`` when it is missing, not a regular file or not accessible (nothing is read)."""
    _check_path(Path(path))


def _check_path(path: Path) -> None:
    try:
        if path.is_file():
            return
        exists = path.exists()
    except OSError as exc:  # e.g. a parent folder without search permission
        raise AudioError(path, f"cannot access the file ({exc.strerror or exc})") from None
    raise AudioError(path, "not a regular file" if exists else "file not found")


def load_audio(path: str | Path, sample_rate: int | None = 44100, *, mono: bool = True, warn_upsampled: bool = True) -> np.ndarray:
    """Load an audio file as float32 samples (in [-1, 1] for integer formats; see the module notes).

    Parameters
    ----------
    path : audio file (anything libsndfile reads: WAV, FLAC, OGG, ...)
    sample_rate : resample to this rate (soxr, via librosa) when the file differs;
        ``None`` keeps the file's rate.
    mono : average all channels into one (a documented conversion).
    warn_upsampled : log a warning when the file's rate is below ``sample_rate`` (off where
        band-limited sources are expected: the mixer and the training sources, NOTES 9).

    Returns
    -------
    y : np.ndarray [shape=(n,) if mono else (channels, n)], float32, n >= 1

    Raises
    ------
    AudioError naming the file: missing, unreadable, not audio, truncated, no samples, NaN or
    infinite samples, a sample rate below :data:`MIN_SAMPLE_RATE`.
    """
    path = Path(path)
    _check_path(path)
    try:
        with sf.SoundFile(str(path)) as handle:
            rate, declared, header_log = int(handle.samplerate), int(handle.frames), handle.extra_info
            data = handle.read(dtype="float32", always_2d=True)
    except PermissionError as exc:
        raise AudioError(path, f"cannot read the file ({exc.strerror or exc})") from None
    except (*_DECODE_ERRORS, OSError) as exc:
        raise AudioError(path, f"not a readable audio file ({exc})") from None
    reason = _truncation(header_log)
    if reason is None and data.shape[0] < declared:
        reason = f"truncated: holds {data.shape[0]} of the {declared} samples its header declares"
    if reason:
        raise AudioError(path, reason)
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise AudioError(path, "audio file holds no samples")
    if rate < MIN_SAMPLE_RATE:
        raise AudioError(path, f"sample rate {rate} Hz is below {MIN_SAMPLE_RATE} Hz (unusable, or a broken header)")
    if not np.all(np.isfinite(data)):
        raise AudioError(path, "audio holds NaN or infinite samples")
    if not np.any(data):
        log.warning("%s: digitally silent (every sample is zero); its features sit at the log floor", path)
    y = data.T  # (channels, n)
    if mono:
        y = y.mean(axis=0)
    if sample_rate is not None and rate != sample_rate:
        import librosa

        if rate < sample_rate and warn_upsampled:
            log.warning("%s: recorded at %d Hz, upsampled to %d Hz; nothing above %d Hz, so detections are less reliable", path, rate, sample_rate, rate // 2)
        y = librosa.resample(y, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq")
        if y.shape[-1] == 0:
            raise AudioError(path, f"too short to resample from {rate} Hz to {sample_rate} Hz")
    return np.ascontiguousarray(y, dtype=np.float32)


def audio_info(path: str | Path) -> sf._SoundFileInfo:
    """Header information (rate, channels, frames) of an audio file, with a clear error."""
    path = Path(path)
    _check_path(path)
    try:
        return sf.info(str(path))
    except PermissionError as exc:
        raise AudioError(path, f"cannot read the file ({exc.strerror or exc})") from None
    except (*_DECODE_ERRORS, OSError) as exc:
        raise AudioError(path, f"not a readable audio file ({exc})") from None


def write_audio(path: str | Path, y: np.ndarray, sample_rate: int, *, subtype: str = "PCM_24") -> None:
    """Write mono float samples atomically (24-bit PCM WAV by default, as DCASE mixtures are)."""
    y = np.asarray(y, dtype=np.float64)
    if not np.all(np.isfinite(y)):
        raise AudioError(path, "refusing to write NaN or infinite samples")
    with atomic_path(path) as tmp:
        sf.write(str(tmp), y, sample_rate, subtype=subtype, format="WAV")
