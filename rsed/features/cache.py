"""The HDF5 feature cache: one file per mixture set and feature configuration, named by both, checked on every read."""

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

from ..config import FeatureConfig
from ..data.layout import MixtureEvent, MixtureSet
from ..errors import CacheError, DataError
from ..fileio import atomic_path, remove_stale_parts
from ..parallel import ordered_map, resolve_workers
from ..version import __version__
from .spectrogram import extract_file
from .steps import frame_labels

log = logging.getLogger(__name__)

#: Layout version of the HDF5 feature cache; bump it whenever the layout or the meaning of
#: a stored value changes, so older files are rebuilt instead of misread.
CACHE_FORMAT_VERSION = 1

_ROOT_ATTRS = ("format_version", "feature_config", "rsed_version", "inputs_fingerprint", "class_name", "subset", "n_clips")



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
        baseline's, :mod:`rsed.features.baseline`) brings its own with its own config class
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
            for event, group_name, mel in _progress(zip(events, groups, features, strict=True), len(events), desc, progress):
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
