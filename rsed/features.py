"""Log-mel features, frame and step labels, and the HDF5 feature cache.

The features are the paper's (section 2.1): a log-mel power spectrogram with a 46 ms window
(n_fft 2048 at 44.1 kHz) and 128 mel bands, in dB, computed as librosa computes it
(:func:`logmel_reference`) by a faster extractor of our own (:func:`logmel`). Caches are
named by a hash of their parameters and hold a fingerprint of their inputs, so a stale cache
is rebuilt, never mistaken for a fresh one (STYLE.md, lesson 3).

Array conventions: time runs along the first axis, ``logmel`` is ``[frames, n_mels]``
float32 in dB (re 1.0), ``labels`` is ``[frames]`` uint8.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import h5py
import numpy as np
import scipy.fft

from . import __version__
from .audio import load_audio
from .config import FeatureConfig
from .data.layout import MixtureEvent, MixtureSet
from .errors import AudioError, CacheError, DataError
from .parallel import available_cores, ordered_map, resolve_workers
from .fileio import atomic_path, remove_stale_parts, write_json

log = logging.getLogger(__name__)

#: Layout version of the HDF5 feature cache; bump it whenever the layout or the meaning of
#: a stored value changes, so older files are rebuilt instead of misread.
CACHE_FORMAT_VERSION = 1

#: Layout version of the normalisation statistics JSON.
STATS_FORMAT_VERSION = 1

#: Frames processed together by :func:`logmel`: the windowed frames and their spectrum
#: stay in the CPU cache (about 1 MB each at n_fft 2048).
_BLOCK_FRAMES = 128

#: Mel bands per dense sub-product in :func:`logmel` (see :func:`_mel_bands`).
_BANDS_PER_GROUP = 8

_ROOT_ATTRS = ("format_version", "feature_config", "rsed_version", "inputs_fingerprint", "class_name", "subset", "n_clips")


# --------------------------------------------------------------------------------------
# Log-mel spectrogram
# --------------------------------------------------------------------------------------


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
    :mod:`rsed.melspec`; otherwise blocks of frames through scipy's float32 FFT.

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


# --------------------------------------------------------------------------------------
# Labels and model steps
# --------------------------------------------------------------------------------------


def frame_times(n_frames: int, config: FeatureConfig) -> np.ndarray:
    """Centre time in seconds of each frame, ``index * hop / sr`` (librosa, centre=True) [n_frames]."""
    return np.arange(n_frames) * config.hop_length / config.sample_rate


def frame_labels(n_frames: int, onset: float | None, offset: float | None, config: FeatureConfig) -> np.ndarray:
    """Frame targets [n_frames] uint8: 1 where the frame centre time lies in ``[onset, offset)``.

    All zeros when ``onset`` is None (a mixture without an event).
    """
    labels = np.zeros(n_frames, dtype=np.uint8)
    if onset is None:
        return labels
    if offset is None:
        raise ValueError("an event needs both an onset and an offset")
    times = frame_times(n_frames, config)
    labels[(times >= onset) & (times < offset)] = 1
    return labels


def to_steps(frames: np.ndarray, labels: np.ndarray | None, frames_per_step: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Group frames into model steps of ``frames_per_step`` frames; drop a trailing partial step.

    Parameters
    ----------
    frames : np.ndarray [shape=(T, n_mels)]
    labels : np.ndarray [shape=(T,)] of 0/1, or None
    frames_per_step : frames per step (``FeatureConfig.frames_per_step``, 4 by default)

    Returns
    -------
    steps : np.ndarray [shape=(T // frames_per_step, frames_per_step, n_mels)], a view when
        ``frames`` is C-contiguous
    step_labels : np.ndarray [shape=(T // frames_per_step,)] uint8, 1 when at least half of
        the step's frames are positive; None when ``labels`` is None
    """
    if frames_per_step < 1:
        raise ValueError(f"frames_per_step must be positive, got {frames_per_step}")
    frames = np.asarray(frames)
    n_steps = frames.shape[0] // frames_per_step
    used = n_steps * frames_per_step
    steps = frames[:used].reshape(n_steps, frames_per_step, *frames.shape[1:])
    if labels is None:
        return steps, None
    labels = np.asarray(labels)
    if labels.shape[0] != frames.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {frames.shape[0]} frames")
    positives = labels[:used].reshape(n_steps, frames_per_step).astype(np.int64).sum(axis=1)
    return steps, (2 * positives >= frames_per_step).astype(np.uint8)


# --------------------------------------------------------------------------------------
# HDF5 feature cache
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Clip:
    """One mixture from a feature cache; ``onset``, ``offset`` and ``label`` are None without an event."""

    filename: str
    logmel: np.ndarray  # (frames, n_mels) float32, dB
    labels: np.ndarray  # (frames,) uint8
    onset: float | None = None
    offset: float | None = None
    label: str | None = None

    @property
    def has_event(self) -> bool:
        return self.label is not None


def cache_path(mixture_set: MixtureSet, config: FeatureConfig, cache_dir: str | Path) -> Path:
    """Where the cache of ``mixture_set`` with ``config`` lives: the name holds both keys."""
    name = f"features_{mixture_set.subset}_{mixture_set.class_name}_{mixture_set.param_hash}_{config.key()}.h5"
    return Path(cache_dir) / name


def _config_json(config: FeatureConfig) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def inputs_fingerprint(mixture_set: MixtureSet, events: Iterable[MixtureEvent] | None = None) -> str:
    """sha256 over the event list's bytes and each audio file's name, size and mtime (ns)."""
    if events is None:
        events = mixture_set.events()
    digest = hashlib.sha256()
    try:
        digest.update(mixture_set.event_list_path.read_bytes())
    except OSError as exc:
        raise DataError(mixture_set.event_list_path, f"cannot read the event list ({exc})") from None
    for name in sorted(e.filename for e in events):
        path = mixture_set.audio_dir / name
        try:
            stat = path.stat()
        except OSError as exc:
            raise DataError(path, f"cannot read the audio file ({exc})") from None
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode("utf-8"))
    return digest.hexdigest()


def _attr(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


def open_cache(path: str | Path) -> h5py.File:
    """Open a feature cache read-only after checking its format version and completeness.

    Returns an open ``h5py.File`` (use it in a ``with`` block). Raises CacheError naming the
    file when it is missing, not HDF5, lacks its root attributes or clips, or was written in
    another format version.
    """
    path = Path(path)
    if not path.is_file():
        raise CacheError(path, "feature cache not found")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise CacheError(path, f"not a readable HDF5 feature cache ({exc}); delete it to rebuild") from None
    try:
        missing = [name for name in _ROOT_ATTRS if name not in handle.attrs]
        if missing:
            raise CacheError(path, f"incomplete feature cache: missing attribute(s) {', '.join(missing)}")
        version = int(handle.attrs["format_version"])
        if version != CACHE_FORMAT_VERSION:
            raise CacheError(path, f"feature cache format version {version}, this rsed reads {CACHE_FORMAT_VERSION}; rebuild it")
        clips = handle.get("clips")
        n_clips = int(handle.attrs["n_clips"])
        if not isinstance(clips, h5py.Group) or len(clips) != n_clips:
            found = len(clips) if isinstance(clips, h5py.Group) else 0
            raise CacheError(path, f"incomplete feature cache: {found} of {n_clips} clips")
    except CacheError:
        handle.close()
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        handle.close()
        raise CacheError(path, f"corrupt feature cache ({exc}); delete it to rebuild") from None
    return handle


def check_cache(path: str | Path, config: FeatureConfig) -> dict:
    """Check a cache was built with ``config``; return its root attributes as a dict.

    Raises CacheError naming the file (see :func:`open_cache`), also when its feature
    parameters differ from ``config``.
    """
    with open_cache(path) as handle:
        attrs = {name: _attr(handle.attrs[name]) for name in _ROOT_ATTRS}
    try:
        stored = json.loads(attrs["feature_config"])
    except (TypeError, ValueError):
        raise CacheError(path, "corrupt feature cache: feature_config is not JSON") from None
    wanted = dataclasses.asdict(config)
    if stored != wanted:
        diff = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        details = ", ".join(f"{k}: cache {stored.get(k)!r}, wanted {wanted.get(k)!r}" for k in diff)
        raise CacheError(path, f"built with other feature parameters ({details})")
    attrs["feature_config"] = stored
    attrs["format_version"] = int(attrs["format_version"])
    attrs["n_clips"] = int(attrs["n_clips"])
    return attrs


def _read_clip(group: h5py.Group) -> Clip:
    onset = float(group.attrs["onset"])
    label = _attr(group.attrs["label"])
    has_event = not math.isnan(onset)
    return Clip(
        filename=_attr(group.attrs["filename"]),
        logmel=group["logmel"][()],
        labels=group["labels"][()],
        onset=onset if has_event else None,
        offset=float(group.attrs["offset"]) if has_event else None,
        label=label if has_event else None,
    )


def iter_cache(path: str | Path, config: FeatureConfig | None = None) -> Iterator[Clip]:
    """Yield the clips of a cache one at a time, in filename order (checked against ``config`` if given)."""
    path = Path(path)
    if config is not None:
        check_cache(path, config)
    with open_cache(path) as handle:
        try:
            for name in sorted(handle["clips"]):
                yield _read_clip(handle["clips"][name])
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise CacheError(path, f"corrupt feature cache ({exc}); delete it to rebuild") from None


def read_cache(path: str | Path, config: FeatureConfig | None = None) -> list[Clip]:
    """All clips of a feature cache in filename order (checked against ``config`` if given)."""
    return list(iter_cache(path, config))


def _extract_all(paths: list[Path], config: FeatureConfig, workers: int, extractor=None) -> Iterator[np.ndarray]:
    """``extractor`` (default :func:`extract_file`) of each path, yielded in the order given; in-process when ``workers`` is 1."""
    return ordered_map(functools.partial(extractor or extract_file, config=config), [str(p) for p in paths], workers)


def _progress(iterable, total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="clip", disable=not (enabled and sys.stderr.isatty()))


def build_cache(
    mixture_set: MixtureSet,
    config: FeatureConfig,
    cache_dir: str | Path,
    *,
    workers: int | None = None,
    progress: bool = True,
    extractor=None,
) -> Path:
    """Extract the log-mel features and frame labels of every mixture of a set into one HDF5 file.

    Returns the existing file untouched when it was built from the same inputs (fingerprint)
    in the current format; rebuilds it otherwise. The file is written under a temporary
    name and renamed into place at the end, clips in filename order, so the result does not
    depend on ``workers``.

    Parameters
    ----------
    mixture_set : the mixtures of one class in one subset
    config : feature parameters; they and the set name the file (:func:`cache_path`)
    cache_dir : folder of the cache (created if needed)
    workers : processes extracting features (default: every core this process may use,
        :func:`available_cores`); 1 runs in-process
    progress : show a tqdm bar when stderr is a terminal
    extractor : ``f(path, config) -> [frames, bands]`` float32, a picklable module-level
        function (default :func:`extract_file`); another feature type (the challenge
        baseline's, :mod:`rsed.baseline`) brings its own with its own config class
    """
    path = cache_path(mixture_set, config, cache_dir)
    events = sorted(mixture_set.events(), key=lambda e: e.filename)
    fingerprint = inputs_fingerprint(mixture_set, events)
    if path.exists():
        try:
            attrs = check_cache(path, config)
        except CacheError as exc:
            log.info("rebuilding feature cache: %s", exc)
        else:
            if attrs["inputs_fingerprint"] == fingerprint:
                return path
            log.info("rebuilding feature cache %s: its inputs changed", path)

    groups = [Path(e.filename).stem for e in events]
    duplicates = sorted(name for name, count in collections.Counter(groups).items() if count > 1)
    if duplicates:
        raise DataError(mixture_set.event_list_path, f"several files share the name(s) {', '.join(duplicates)}")
    workers = resolve_workers(workers, len(events))
    audio_paths = [mixture_set.audio_dir / e.filename for e in events]
    desc = f"features {mixture_set.subset}/{mixture_set.class_name}"
    features = _extract_all(audio_paths, config, workers, extractor)
    remove_stale_parts(path)  # a killed build's temporary file
    with contextlib.closing(features), atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as handle:
            clips = handle.create_group("clips")
            for event, group_name, mel in _progress(zip(events, groups, features), len(events), desc, progress):
                group = clips.create_group(group_name)
                group.create_dataset("logmel", data=mel, track_times=False)
                labels = frame_labels(mel.shape[0], event.onset, event.offset, config)
                group.create_dataset("labels", data=labels, track_times=False)
                group.attrs["filename"] = event.filename
                group.attrs["onset"] = float("nan") if event.onset is None else float(event.onset)
                group.attrs["offset"] = float("nan") if event.offset is None else float(event.offset)
                group.attrs["label"] = event.label or ""
            # Root attributes last: a file lacking them is incomplete (open_cache).
            handle.attrs["feature_config"] = _config_json(config)
            handle.attrs["rsed_version"] = __version__
            handle.attrs["inputs_fingerprint"] = fingerprint
            handle.attrs["class_name"] = mixture_set.class_name
            handle.attrs["subset"] = mixture_set.subset
            handle.attrs["n_clips"] = len(events)
            handle.attrs["format_version"] = CACHE_FORMAT_VERSION
    return path


# --------------------------------------------------------------------------------------
# Normalisation statistics
# --------------------------------------------------------------------------------------


def compute_stats(paths: Iterable[str | Path]) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation [n_mels] float32 over all frames of the given caches.

    Use the training caches only. Streams clip by clip, merging per-clip moments in float64
    (Chan et al.'s pairwise update); the std (population, ddof 0) is floored at 1e-6. All
    caches must share their feature parameters.
    """
    count, mean, m2 = 0, None, None
    reference_config, reference_path = None, None
    for path in paths:
        path = Path(path)
        with open_cache(path) as handle:
            stored = _attr(handle.attrs["feature_config"])
        if reference_config is None:
            reference_config, reference_path = stored, path
        elif stored != reference_config:
            raise CacheError(path, f"built with other feature parameters than {reference_path}")
        for clip in iter_cache(path):
            x = clip.logmel.astype(np.float64)
            n = x.shape[0]
            if n == 0:
                continue
            clip_mean = x.mean(axis=0)
            clip_m2 = np.square(x - clip_mean).sum(axis=0)
            if mean is None:
                count, mean, m2 = n, clip_mean, clip_m2
                continue
            total = count + n
            delta = clip_mean - mean
            mean = mean + delta * (n / total)
            m2 = m2 + clip_m2 + np.square(delta) * (count * n / total)
            count = total
    if mean is None:
        raise ValueError("no frames to compute statistics from (no caches, or only empty clips)")
    std = np.maximum(np.sqrt(m2 / count), 1e-6)
    return mean.astype(np.float32), std.astype(np.float32)


def save_stats(path: str | Path, mean: np.ndarray, std: np.ndarray) -> None:
    """Write normalisation statistics (two [n_mels] vectors) as JSON, atomically."""
    mean = np.asarray(mean, dtype=np.float32).ravel()
    std = np.asarray(std, dtype=np.float32).ravel()
    if mean.shape != std.shape:
        raise ValueError(f"mean has shape {mean.shape}, std {std.shape}")
    write_json(
        path,
        {
            "format_version": STATS_FORMAT_VERSION,
            "n_mels": int(mean.size),
            "mean": [float(v) for v in mean],
            "std": [float(v) for v in std],
        },
    )


def load_stats(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read statistics written by :func:`save_stats`: ``(mean, std)``, each [n_mels] float32."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CacheError(path, "normalisation statistics not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CacheError(path, f"unreadable normalisation statistics ({exc})") from None
    try:
        if data["format_version"] != STATS_FORMAT_VERSION:
            raise CacheError(path, f"statistics format version {data['format_version']}, this rsed reads {STATS_FORMAT_VERSION}")
        mean = np.asarray(data["mean"], dtype=np.float32)
        std = np.asarray(data["std"], dtype=np.float32)
        valid = mean.ndim == 1 and mean.shape == std.shape and mean.size == data["n_mels"]
    except (KeyError, TypeError, ValueError):
        valid = False
    if not valid or not (np.all(np.isfinite(mean)) and np.all(std > 0)):
        raise CacheError(path, "malformed normalisation statistics (need format_version, n_mels, mean, std > 0)")
    return mean, std


__all__ = [
    "CACHE_FORMAT_VERSION",
    "Clip",
    "logmel",
    "logmel_reference",
    "extract_file",
    "frame_times",
    "frame_labels",
    "to_steps",
    "cache_path",
    "inputs_fingerprint",
    "build_cache",
    "open_cache",
    "check_cache",
    "iter_cache",
    "read_cache",
    "compute_stats",
    "save_stats",
    "load_stats",
]
