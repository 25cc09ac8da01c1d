"""Normalisation statistics: the per-band mean and standard deviation of the training caches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import CacheError
from ..fileio import write_json
from .cache import _attr, iter_cache, open_cache

#: Layout version of the normalisation statistics JSON.
STATS_FORMAT_VERSION = 1



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
