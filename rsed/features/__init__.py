"""Log-mel features, frame and step labels, and the HDF5 feature cache.

The features are the paper's (section 2.1): a log-mel power spectrogram with a 46 ms window
(n_fft 2048 at 44.1 kHz) and 128 mel bands, in dB, computed as librosa computes it
(:func:`logmel_reference`) by a faster extractor of our own (:func:`logmel`). Caches are
named by a hash of their parameters and hold a fingerprint of their inputs, so a stale cache
is rebuilt, never mistaken for a fresh one (STYLE.md, lesson 3).

Array conventions: time runs along the first axis, ``logmel`` is ``[frames, n_mels]``
float32 in dB (re 1.0), ``labels`` is ``[frames]`` uint8.

Modules: :mod:`.spectrogram` (log-mel), :mod:`.melspec` (its compiled kernel), :mod:`.steps`
(frame labels, model steps), :mod:`.cache` (the HDF5 cache), :mod:`.stats` (normalisation),
:mod:`.windows` (windows of steps for the models), :mod:`.baseline` (the challenge baseline's
features) and :mod:`.synthetic_cache` (caches without audio, for tests and benchmarks). The names
below are the stage's public face (``from rsed.features import logmel``).
"""

from .cache import CACHE_FORMAT_VERSION, Clip, build_cache, cache_path, check_cache, inputs_fingerprint, iter_cache, open_cache, read_cache
from .spectrogram import extract_file, logmel, logmel_reference
from .stats import compute_stats, load_stats, save_stats
from .steps import frame_labels, frame_times, to_steps

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
