"""Per-step probabilities of a subset, saved per model and ensemble so thresholds can be re-tuned without retraining."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import config_hash
from ..inference.postprocessing import ensemble_average
from .rows import Experiment


def _prediction_key(folders: list[Path], cache: Path) -> str:
    return config_hash([(f / "run_key.txt").read_text() for f in folders] + [cache.name, cache.stat().st_mtime_ns])


def _load_predictions(path: Path, key: str) -> dict[str, np.ndarray] | None:
    if path.is_file():
        with np.load(path) as data:
            if "__key__" in data.files and str(data["__key__"]) == key:
                return {name: data[name] for name in data.files if name != "__key__"}
    return None


def _save_predictions(path: Path, key: str, probs: dict[str, np.ndarray]) -> None:
    from ..fileio import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, __key__=np.array(key), **probs)


def predict_subset(folders: list[Path], cache: Path, out_file: Path) -> dict[str, np.ndarray]:
    """Per-step ensemble probabilities of every clip of a cache, saved as ``.npz`` (one array per clip).

    The file stores a key of the detectors and the cache it came from, so a stale file is
    recomputed and a current one is reused.
    """
    from ..features.cache import read_cache
    from ..inference.sliding import clip_probabilities
    from ..models.detector import load_detector

    key = _prediction_key(folders, cache)
    cached = _load_predictions(out_file, key)
    if cached is not None:
        return cached
    detectors = [load_detector(f) for f in folders]
    probs = {clip.filename: clip_probabilities(detectors, clip.logmel) for clip in read_cache(cache)}
    _save_predictions(out_file, key, probs)
    return probs


def predict_baseline_subset(folder: Path, cache: Path, out_file: Path) -> dict[str, np.ndarray]:
    """Per-frame (20 ms) probabilities of the baseline on every clip of a baseline cache, saved like :func:`predict_subset`."""
    from ..features.cache import read_cache
    from ..inference.baseline import frame_probabilities
    from ..models.baseline_detector import load_baseline

    key = _prediction_key([folder], cache)
    cached = _load_predictions(out_file, key)
    if cached is not None:
        return cached
    model, spec = load_baseline(folder)
    probs = {clip.filename: frame_probabilities(model, spec, clip.logmel) for clip in read_cache(cache)}
    _save_predictions(out_file, key, probs)
    return probs


def ensemble_predictions(members: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Table 2's timestep ensemble: per clip, the mean of the members' per-step probability sequences.

    Averaged before any threshold is applied; every member must cover the same clips.
    """
    if not members:
        raise ValueError("an ensemble needs at least one member")
    names = list(members[0])
    for m in members[1:]:
        if set(m) != set(names):
            raise ValueError("ensemble members were predicted on different clips")
    return {n: ensemble_average([m[n] for m in members]) for n in names}



def _subset_probabilities(out: Path, experiment: Experiment, class_name: str, subset: str, folders: dict[str, Path], cache: Path) -> tuple[dict, dict]:
    """Predict (or reuse) each member on a subset and average them: ``(ensemble probs, {tag: member probs})``."""
    arch, tags = experiment.architecture, list(folders)
    predictions = out / "predictions" / subset
    stem = _output_stem(experiment, class_name, tags)
    member_probs = {}
    for tag, folder in folders.items():
        if arch == "fnn":
            member_probs[tag] = predict_baseline_subset(folder, cache, predictions / f"{stem}.npz")
        else:
            member_probs[tag] = predict_subset([folder], cache, predictions / f"{_output_stem(experiment, class_name, [tag])}.npz")
    if len(tags) == 1:
        return member_probs[tags[0]], member_probs
    probs = ensemble_predictions([member_probs[t] for t in tags])
    key = config_hash([_prediction_key([f], cache) for f in folders.values()])
    if _load_predictions(predictions / f"{stem}.npz", key) is None:
        _save_predictions(predictions / f"{stem}.npz", key, probs)
    return probs, member_probs


def _output_stem(experiment: Experiment, class_name: str, tags: list[str]) -> str:
    """File stem of a class's predictions and estimates: ``<class>_<arch>[_<recipe>]_<tags joined by +>`` (``<class>_fnn``)."""
    arch = experiment.architecture + (f"_{experiment.recipe}" if experiment.recipe else "")
    return f"{class_name}_{arch}" if experiment.architecture == "fnn" else f"{class_name}_{arch}_" + "+".join(tags)
