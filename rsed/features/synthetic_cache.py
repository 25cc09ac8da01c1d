"""Feature caches of random log-mel frames in the layout of :func:`rsed.features.build_cache`.

For tests and benchmarks that need a cache of a given size (up to the paper's 25-hour
training set, ~4 GB) without audio: clips are written one at a time, so writing needs only
one clip's memory.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from ..config import FeatureConfig
from ..fileio import atomic_path
from ..version import __version__
from .cache import CACHE_FORMAT_VERSION
from .steps import frame_labels


def write_synthetic_cache(
    path: str | Path,
    n_frames: Sequence[int],
    config: FeatureConfig = FeatureConfig(),
    *,
    seed: int = 0,
    event_fraction: float = 0.5,
    event_seconds: tuple[float, float] = (0.3, 3.0),
    level_db: tuple[float, float] = (-60.0, 10.0),
    class_name: str = "synthetic",
    subset: str = "synthetic",
    progress: bool = False,
) -> Path:
    """Write a cache with one clip of ``n_frames[i]`` frames per entry; return its path.

    Each clip holds Gaussian frames (mean ``level_db[0]`` dB, std ``level_db[1]`` dB, one
    offset per mel band) and, with probability ``event_fraction``, one event of
    ``event_seconds`` length at a random onset, labelled as the real cache labels frames.
    Deterministic in ``seed``; written under a temporary name and renamed.
    """
    rng = np.random.default_rng(seed)
    band_offset = rng.normal(0.0, 5.0, config.n_mels).astype(np.float32)
    path = Path(path)
    iterator = range(len(n_frames))
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"writing {path.name}", unit="clip")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as handle:
            clips = handle.create_group("clips")
            for i in iterator:
                frames = int(n_frames[i])
                name = f"mixture_{subset}_{class_name}_{i:06d}"
                mel = rng.standard_normal((frames, config.n_mels), dtype=np.float32)
                mel *= np.float32(level_db[1])
                mel += band_offset + np.float32(level_db[0])
                onset = offset = None
                if rng.random() < event_fraction:
                    length = rng.uniform(*event_seconds)
                    duration = frames * config.frame_seconds
                    onset = float(rng.uniform(0.0, max(duration - length, 0.0)))
                    offset = min(onset + length, duration)
                group = clips.create_group(name)
                group.create_dataset("logmel", data=mel, track_times=False)
                group.create_dataset("labels", data=frame_labels(frames, onset, offset, config), track_times=False)
                group.attrs["filename"] = name + ".wav"
                group.attrs["onset"] = math.nan if onset is None else onset
                group.attrs["offset"] = math.nan if offset is None else offset
                group.attrs["label"] = "" if onset is None else class_name
            handle.attrs["feature_config"] = json.dumps(dataclasses.asdict(config), sort_keys=True)
            handle.attrs["rsed_version"] = __version__
            handle.attrs["inputs_fingerprint"] = f"synthetic seed {seed}"
            handle.attrs["class_name"] = class_name
            handle.attrs["subset"] = subset
            handle.attrs["n_clips"] = len(n_frames)
            handle.attrs["format_version"] = CACHE_FORMAT_VERSION
    return path
