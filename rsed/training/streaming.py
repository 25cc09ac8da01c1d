"""Training windows read straight from an HDF5 feature cache, so the training set never has to fit in memory.

Only the frame labels of every clip are loaded (one byte per frame, 7.8 MB for the paper's
25-hour set); each batch reads the frames of its windows with one HDF5 slice per window and
normalises them on the fly. :class:`CacheWindowSampler` draws the same windows as the
in-memory :class:`rsed.features.windows.WindowSampler` (both use :class:`rsed.features.windows.WindowIndex`)
and gives bit-identical batches for the same seed, epoch and batch index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import CacheError
from ..features.cache import open_cache
from ..features.steps import to_steps
from ..features.windows import WindowIndex


@dataclass(frozen=True, eq=False)
class CachedSteps:
    """The clips of a feature cache as normalised model steps, read from disk when needed.

    ``mean`` and ``std`` are the training statistics ``[n_mels]``; a step is
    ``frames_per_step`` consecutive frames, as :func:`rsed.features.to_steps` cuts them.
    """

    path: Path
    mean: np.ndarray
    std: np.ndarray
    frames_per_step: int
    #: Only the clips with these group names (file stems) take part; None: every clip of the cache.
    clips: frozenset | None = None

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "mean", np.asarray(self.mean, dtype=np.float32))
        object.__setattr__(self, "std", np.asarray(self.std, dtype=np.float32))

    def __len__(self) -> int:
        """Number of clips in the cache."""
        with open_cache(self.path) as handle:
            if self.clips is None:
                return int(handle.attrs["n_clips"])
            return sum(1 for name in handle["clips"] if name in self.clips)


class CacheWindowSampler:
    """Training batches of windows read from a feature cache; deterministic in (seed, epoch, batch index).

    Same interface and same batches as :class:`rsed.features.windows.WindowSampler` built on the
    in-memory steps of the same cache (clips in the cache's filename order). Holds the file
    open until :meth:`close`; safe to call :meth:`batch` from several threads (h5py
    serialises the reads).
    """

    def __init__(self, source: CachedSteps, tau: int, *, positive_fraction: float = 0.5, seed: int = 0):
        self.source, self.tau = source, tau
        self._file = open_cache(source.path)
        try:
            self._frames, self._labels = self._read_index()
            self.index = WindowIndex(self._labels, tau, positive_fraction=positive_fraction, seed=seed)
            self.n_mels = int(self._frames[0].shape[1])
            if source.mean.shape != (self.n_mels,) or source.std.shape != (self.n_mels,):
                raise CacheError(source.path, f"{self.n_mels} mel bands, but the statistics have shape {source.mean.shape}")
        except BaseException:
            self._file.close()
            raise

    def _read_index(self) -> tuple[list[h5py.Dataset], list[np.ndarray]]:
        """The frame datasets and the step labels of every clip, in filename order."""
        fps = self.source.frames_per_step
        frames, labels = [], []
        try:
            clips = self._file["clips"]
            for name in sorted(clips):
                if self.source.clips is not None and name not in self.source.clips:
                    continue
                logmel, frame_labels = clips[name]["logmel"], clips[name]["labels"][()]
                if logmel.ndim != 2 or logmel.shape[0] != frame_labels.shape[0]:
                    raise CacheError(self.source.path, f"clip {name}: {logmel.shape} features for {frame_labels.shape} labels")
                # Step labels by the rule of to_steps; a (T, 0) stand-in replaces the frames.
                _, step_labels = to_steps(np.empty((frame_labels.shape[0], 0), np.float32), frame_labels, fps)
                frames.append(logmel)
                labels.append(step_labels)
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise CacheError(self.source.path, f"corrupt feature cache ({exc}); delete it to rebuild") from None
        return frames, labels

    @property
    def n_windows(self) -> int:
        """Number of distinct windows (hop one step) over all clips."""
        return self.index.n_windows

    @property
    def window_shape(self) -> tuple[int, int, int]:
        """Shape of one window without the channel axis: ``(tau, frames_per_step, n_mels)``."""
        return (self.tau, self.source.frames_per_step, self.n_mels)

    def batch(self, batch_size: int, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """One batch: ``x [B, tau, F, M, 1]`` float32 (normalised) and ``y [B, tau, 1]`` float32."""
        clips, starts = self.index.picks(batch_size, epoch, index)
        fps, tau = self.source.frames_per_step, self.tau
        x = np.empty((len(clips), tau * fps, self.n_mels), dtype=np.float32)
        y = np.empty((len(clips), tau), dtype=np.float32)
        for k, (clip, start) in enumerate(zip(clips, starts, strict=True)):
            first = int(start) * fps
            x[k] = self._frames[clip][first : first + tau * fps]  # h5py's fast path for simple slices: ~60 us
            y[k] = self._labels[clip][start : start + tau]
        # The same float32 operations as (logmel - mean) / std on a whole clip: identical values.
        x -= self.source.mean
        x /= self.source.std
        return x.reshape(len(clips), tau, fps, self.n_mels, 1), y[..., None]

    def close(self) -> None:
        """Close the cache file."""
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
