"""The members of a class's ensemble: each detector trained, or reused when its key is unchanged."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from ..config import PostprocessConfig
from .folder import _cache_fingerprint, _finish, _log, _reuse_or_prepare, _stored_key, model_folder, model_key
from .rows import Experiment
from .sources import NO_SOURCES, Sources, training_data


def _sequences(cache: Path, spec_mean, spec_std, frames_per_step: int):
    from ..features.cache import read_cache
    from ..features.steps import to_steps
    from ..features.windows import StepSequence

    seqs = []
    mean, std = np.asarray(spec_mean, np.float32), np.asarray(spec_std, np.float32)
    for clip in read_cache(cache):
        steps, labels = to_steps((clip.logmel - mean) / std, clip.labels, frames_per_step)
        seqs.append(StepSequence(clip.filename, steps.astype(np.float32), labels))
    return seqs


def train_or_load(root: Path, out: Path, experiment: Experiment, class_name: str, tau: int, caches: dict, *, overwrite: bool = False, sources: Sources = NO_SOURCES) -> Path:
    """Train one detector unless a complete one with the same key exists; return its folder.

    A row beyond the paper (:attr:`Experiment.beyond_paper`) keys its detectors by its recipe
    too, and trains on what :func:`rsed.run.sources.training_data` gives.
    """
    from ..features.stats import compute_stats
    from ..models.builders import describe
    from ..models.detector import DetectorSpec, is_complete, save_detector
    from ..training.augment import SpecAugment
    from ..training.fit import build_model, train_detector

    e = experiment
    training = e.row_training
    model_config = dataclasses.replace(e.model, timesteps=tau)
    folder = model_folder(out, e.architecture, class_name, tau, e.recipe)
    train_cache = caches[e.train_subset, class_name]
    val_cache = caches[e.validation_subset, class_name]
    recipe = [e.augment, e.validation, e.source_split] if e.beyond_paper else []
    key = model_key([e.architecture, model_config, training, e.features, *recipe], [train_cache, val_cache])
    if _reuse_or_prepare(folder, key, is_complete(folder), overwrite=overwrite):
        _log(f"{folder.name}: trained already, reusing")
        return folder
    clip_seconds, data = data_identity(root, experiment, class_name, caches)
    mean, std = compute_stats([train_cache])
    train = training_data(root, e, class_name, train_cache, mean, std, sources)
    val = _sequences(val_cache, mean, std, e.features.frames_per_step)
    what = "clips mixed on the fly per epoch" if e.augment.mix_on_the_fly else "training clips"
    _log(f"{folder.name}: training ({training.schedule} schedule, {len(train)} {what}, {len(val)} validation clips of {e.validation_subset})")
    model = build_model(e.architecture, model_config, e.features.frames_per_step, e.features.n_mels, seed=training.seed)
    started = time.time()
    a = e.augment
    spec = SpecAugment(a.spec_time_masks, a.spec_time_width, a.spec_freq_masks, a.spec_freq_width, a.spec_max_shift) if a.spec else None
    history = train_detector(model, train, val, training, folder, resume_key=key, spec=spec)
    spec = DetectorSpec(
        class_name,
        e.architecture,
        model_config,
        e.features,
        training,
        tuple(mean),
        tuple(std),
        history.logit_shift,
        recipe=e.recipe,
        clip_seconds=clip_seconds,
        training_data=data,
    )
    save_detector(folder, model, spec)
    _finish(folder, key, time.time() - started, describe(model), history.steps_per_epoch)
    _log(f"{folder.name}: trained in {time.time() - started:.0f} s ({history.steps_per_epoch} batches per epoch)")
    return folder


def data_identity(root: Path, experiment: Experiment, class_name: str, caches: dict) -> tuple[float | None, tuple[tuple[str, str], ...]]:
    """``(clip_seconds, training_data)`` of a detector of ``class_name`` (:class:`rsed.models.detector.DetectorSpec`).

    The clip length is the duration of the first training mixture (its header); the training
    data is named by its subsets and by each feature cache's name (parameters and mixture set)
    and the fingerprint of the audio it was built from.
    """
    from ..audio import audio_info
    from ..data.layout import mixture_set

    mixtures = mixture_set(root, experiment.train_subset, class_name)
    events = mixtures.events()
    clip_seconds = None
    if events:
        info = audio_info(mixtures.audio_dir / events[0].filename)
        clip_seconds = round(info.frames / info.samplerate, 6)
    data = {
        "class": class_name,
        "train_subset": experiment.train_subset,
        "train_mixtures": mixtures.param_hash,
        "train_cache": _cache_fingerprint(caches[experiment.train_subset, class_name]),
        "validation_subset": experiment.validation_subset,
        "validation_cache": _cache_fingerprint(caches[experiment.validation_subset, class_name]),
    }
    return clip_seconds, tuple(sorted(data.items()))


def record_decision(
    root: Path, experiment: Experiment, class_name: str, folders: dict[str, Path], caches: dict, post: PostprocessConfig, chosen_on: str | None
) -> None:
    """Record in each member's ``detector.json`` the decision settings this row chose for their ensemble.

    Keyed by the ensemble (:func:`rsed.models.detector.ensemble_key`, e.g. ``t5+t9+t50``); the
    rows that chose the same settings are listed together, another choice replaces them (the
    latest run of a row wins). A detector of an older format gains its clip length and training
    data. Only ``detector.json`` is rewritten (atomically): the detector's key (``run_key.txt``)
    and model stay, so a rerun still reuses it.
    """
    from ..models.detector import Decision, ensemble_key, load_spec, save_spec

    specs = {tag: load_spec(folder) for tag, folder in folders.items()}
    key = ensemble_key(spec.timesteps for spec in specs.values())
    identity = None
    for tag, spec in specs.items():
        previous = spec.decision(key)
        rows = previous.rows if previous is not None and previous.postprocess == post else ()
        updated = spec.with_decision(key, Decision(post, tuple(dict.fromkeys([*rows, experiment.row_id])), chosen_on))
        if spec.clip_seconds is None or not spec.training_data:
            identity = identity or data_identity(root, experiment, class_name, caches)
            updated = dataclasses.replace(updated, clip_seconds=updated.clip_seconds or identity[0], training_data=updated.training_data or identity[1])
        if updated != spec:
            save_spec(folders[tag], updated)


def train_or_load_baseline(out: Path, experiment: Experiment, class_name: str, caches: dict, *, overwrite: bool = False) -> Path:
    """Train the challenge baseline (FNN) of one class unless a complete one with the same key exists."""
    from ..features.baseline import event_roll_labels
    from ..features.cache import read_cache
    from ..features.stats import compute_stats
    from ..models.baseline_detector import BaselineSpec, is_complete_baseline, save_baseline
    from ..models.builders import build_fnn, describe
    from ..training.baseline import train_baseline

    e = experiment
    folder = model_folder(out, "fnn", class_name)
    train_cache = caches["baseline", e.train_subset, class_name]
    val_cache = caches["baseline", e.validation_subset, class_name]
    key = model_key(["fnn", e.baseline_model, e.baseline_training, e.baseline_features], [train_cache, val_cache])
    if _reuse_or_prepare(folder, key, is_complete_baseline(folder), overwrite=overwrite):
        _log(f"{folder.name}: trained already, reusing")
        return folder
    mean, std = compute_stats([train_cache])
    spec = BaselineSpec(class_name, e.baseline_features, e.baseline_model, e.baseline_training, tuple(map(float, mean)), tuple(map(float, std)))
    frame_seconds = e.baseline_features.frame_seconds
    train, val = (
        [(spec.normalise(c.logmel), event_roll_labels(len(c.logmel), c.onset, c.offset, frame_seconds)) for c in read_cache(cache)]  # the baseline's targets, not the cache's CRNN-style ones
        for cache in (train_cache, val_cache)
    )
    _log(f"{folder.name}: training ({e.baseline_training.schedule} schedule, {sum(len(y) for _, y in train)} training frames)")
    import keras

    keras.utils.set_random_seed(e.baseline_training.seed)  # the initial weights and dropout states: the same model run after run
    model = build_fnn(input_dim=e.baseline_features.input_dim, hidden_units=tuple(e.baseline_model.hidden_units), dropout=e.baseline_model.dropout)
    started = time.time()
    train_baseline(model, train, val, e.baseline_features.context, e.baseline_training, folder, resume_key=key)
    save_baseline(folder, model, spec)
    _finish(folder, key, time.time() - started, describe(model))
    _log(f"{folder.name}: trained in {time.time() - started:.0f} s")
    return folder



def _train_members(root: Path, out: Path, experiment: Experiment, class_name: str, caches: dict, *, overwrite: bool, sources: Sources = NO_SOURCES) -> tuple[dict[str, Path], dict[str, bool]]:
    """Train or reuse the models of one class's ensemble: ``({tag: folder}, {tag: reused})``."""
    folders, reused = {}, {}
    for tag in experiment.members(class_name):
        if experiment.architecture == "fnn":
            key_before = _stored_key(model_folder(out, "fnn", class_name))
            folders[tag] = train_or_load_baseline(out, experiment, class_name, caches, overwrite=overwrite)
        else:
            tau = int(tag[1:])
            key_before = _stored_key(model_folder(out, experiment.architecture, class_name, tau, experiment.recipe))
            folders[tag] = train_or_load(root, out, experiment, class_name, tau, caches, overwrite=overwrite, sources=sources)
        reused[tag] = key_before is not None and key_before == _stored_key(folders[tag])
    return folders, reused
