"""The whole pipeline on a data root in the mixture layout: features, training, detection, scores, tables.

A *row* is one line of the paper's Tables 2-4 (an :class:`Experiment`: an architecture and
its timestep ensemble per class); :func:`paper_rows` lists them all. Rows run into one *run
folder* and share its ``features/``, ``models/`` and ``predictions/``: each (class,
architecture, tau) detector is trained once, and a Table 2 ensemble reuses the single-tau
models of Table 3. After every row the tables are rebuilt from the row records in
``results/rows/``.

Stages are resumable: feature caches are keyed by their parameters and inputs, a detector
whose configuration, training data and rsed version are unchanged is not retrained, and every
output file is written atomically. Nothing is lost: ``run.json`` holds the run's
configuration, and a run folder holding another configuration is refused unless
``overwrite`` is given; a detector made stale by changed data or code is moved to
``.superseded/`` beside it before it is retrained. Model selection uses the validation
subset only; test subsets are predicted once at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .config import (
    PAPER_TIMESTEPS,
    BaselineFeatureConfig,
    BaselineModelConfig,
    BaselinePostprocessConfig,
    BaselineTrainConfig,
    FeatureConfig,
    ModelConfig,
    PostprocessConfig,
    ScoringConfig,
    TrainConfig,
    config_hash,
    paper_postprocess,
)
from .data.layout import MixtureEvent, find_mixture_sets, mixture_set
from .errors import DataError, RsedError
from .evaluation.scoring import ClassScore, class_average, score_class
from .fileio import write_json, write_text
from .inference.postprocessing import detect_all, ensemble_average
from .records import read_json, read_row_records

RUN_FILE = "run.json"
RUN_FORMAT_VERSION = 1
ARCHITECTURES = ("crnn", "cnn", "fnn")


@dataclass(frozen=True)
class Experiment:
    """One row of the paper's Tables 2-4: an architecture, its timestep ensemble per class, its schedule.

    ``name`` labels the row in the tables; ``row`` names it on disk and on the command line
    (default: ``name`` in lower case); ``table`` is the paper table it belongs to ("2", "3"
    or "4"); ``classes`` restricts a per-class row (Tables 2 and 3) to its class, empty means
    every class of the data. The ``baseline_*`` settings are the FNN row's (NOTES section 5).
    """

    name: str = "CRNN"
    architecture: str = "crnn"
    timesteps: tuple[tuple[str, tuple[int, ...]], ...] = (("babycry", (5, 9, 50)), ("glassbreak", (3,)), ("gunshot", (3, 5)))
    default_timesteps: tuple[int, ...] = (5,)
    model: ModelConfig = ModelConfig()
    training: TrainConfig = TrainConfig()
    features: FeatureConfig = FeatureConfig()
    scoring: ScoringConfig = ScoringConfig()
    train_subset: str = "train"
    validation_subset: str = "devtrain"
    dev_subset: str = "devtest"
    test_subset: str = "evaltest"
    row: str = ""
    table: str = "4"
    classes: tuple[str, ...] = ()
    baseline_features: BaselineFeatureConfig = BaselineFeatureConfig()
    baseline_model: BaselineModelConfig = BaselineModelConfig()
    baseline_training: BaselineTrainConfig = BaselineTrainConfig()
    baseline_postprocess: BaselinePostprocessConfig = BaselinePostprocessConfig()
    #: Onset look-backs (s) tried per class on the validation subset (rsed/lookback.py); empty:
    #: ``PostprocessConfig.lookback_seconds`` for every class.
    lookback_grid: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}; choose from {', '.join(ARCHITECTURES)}")

    @property
    def row_id(self) -> str:
        return self.row or self.name.lower()

    def timesteps_for(self, class_name: str) -> tuple[int, ...]:
        """The ensemble of a class (Table 2), or ``default_timesteps`` for a class the paper lacks."""
        return dict(self.timesteps).get(class_name, self.default_timesteps)

    def members(self, class_name: str) -> tuple[str, ...]:
        """Tags of the models averaged for a class: ``('t5', 't9', 't50')``, or ``('fnn',)``."""
        if self.architecture == "fnn":
            return ("fnn",)
        return tuple(f"t{t}" for t in self.timesteps_for(class_name))

    def postprocess_for(self, class_name: str) -> PostprocessConfig:
        return paper_postprocess(class_name)


@dataclass
class RunResult:
    """Scores of one finished row: ``scores[subset][class]``, the run folder, or why the row was skipped."""

    out: Path
    classes: list[str]
    scores: dict[str, dict[str, ClassScore]] = field(default_factory=dict)
    row: str = ""
    skipped: str | None = None

    def averages(self, subset: str) -> tuple[float, float]:
        return class_average(list(self.scores[subset].values()))


def _log(message: str) -> None:
    print(f"[rsed] {message}", file=sys.stderr, flush=True)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def resolve_classes(root: Path, experiment: Experiment, classes: list[str] | None) -> list[str]:
    """Classes present in the training, validation and dev subsets (optionally restricted)."""
    present = None
    for subset in (experiment.train_subset, experiment.validation_subset, experiment.dev_subset):
        names = {s.class_name for s in find_mixture_sets(root, subset)}
        if not names:
            raise DataError(root, f"no mixtures of subset {subset!r} (expected data/mixture_data/{subset}/<hash>/meta/event_list_{subset}_<class>.csv)")
        present = names if present is None else present & names
    if classes:
        missing = sorted(set(classes) - present)
        if missing:
            raise DataError(root, f"class(es) {', '.join(missing)} not found in every subset; available: {', '.join(sorted(present))}")
        return list(classes)
    if not present:
        raise DataError(root, "no class has mixtures in all of the training, validation and dev subsets")
    return sorted(present)


# --------------------------------------------------------------------------------------
# The run folder and its configuration
# --------------------------------------------------------------------------------------


def _plain(value):
    """JSON round trip: tuples become lists, so a stored configuration compares equal to a fresh one."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def run_identity(root: Path, experiment: Experiment, classes: list[str] | None) -> dict:
    """What makes two invocations the same run: data root, class selection, schedule and shared settings.

    Rows (architecture, timesteps, table) are not part of it: every row of the paper runs
    into the same folder.
    """
    e = experiment
    return _plain(
        {
            "root": str(Path(root).resolve()),
            "classes": sorted(classes) if classes else None,
            "schedule": e.training.schedule,
            "subsets": {"train": e.train_subset, "validation": e.validation_subset, "dev": e.dev_subset, "test": e.test_subset},
            "features": dataclasses.asdict(e.features),
            "model": dataclasses.asdict(e.model),
            "training": dataclasses.asdict(e.training),
            "scoring": dataclasses.asdict(e.scoring),
            "lookback_grid": e.lookback_grid,
            "baseline": {
                "features": dataclasses.asdict(e.baseline_features),
                "model": dataclasses.asdict(e.baseline_model),
                "training": dataclasses.asdict(e.baseline_training),
                "postprocess": dataclasses.asdict(e.baseline_postprocess),
            },
        }
    )


def row_config(experiment: Experiment) -> dict:
    """What defines a row within a run."""
    e = experiment
    return _plain(
        {
            "row": e.row_id,
            "name": e.name,
            "table": e.table,
            "architecture": e.architecture,
            "timesteps": e.timesteps,
            "default_timesteps": e.default_timesteps,
            "classes": e.classes,
        }
    )


def _differences(stored, wanted, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like mappings, with both values."""
    if isinstance(stored, dict) and isinstance(wanted, dict):
        out = []
        for key in sorted(set(stored) | set(wanted)):
            out += _differences(stored.get(key), wanted.get(key), f"{prefix}{key}.")
        return out
    return [] if stored == wanted else [f"{prefix[:-1]}: {stored!r} here, {wanted!r} now"]


def open_run(out: Path, identity: dict, experiment: Experiment, *, overwrite: bool = False) -> None:
    """Create or resume the run folder ``out`` for one row; refuse to mix configurations.

    A folder whose ``run.json`` holds the same configuration is resumed. One holding another
    configuration, or files but no ``run.json``, is refused (RsedError) unless ``overwrite``:
    then its results are discarded and stale detectors are retrained in place. A row that was
    run here under the same name with another definition is refused likewise.
    """
    out = Path(out)
    path = out / RUN_FILE
    wanted = config_hash(identity)
    data = None
    if path.is_file():
        data = read_json(path)
        if data.get("config_hash") != wanted:
            if not overwrite:
                diff = "; ".join(_differences(data.get("config", {}), identity)[:4]) or "unknown differences"
                raise RsedError(out, f"holds a run with another configuration ({diff}); choose another --out, or pass --overwrite to replace its results")
            _log(f"{out}: replacing a run with another configuration (--overwrite)")
            shutil.rmtree(out / "results", ignore_errors=True)
            data = None
    elif out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise RsedError(out, f"is not empty and holds no {RUN_FILE} (not an rsed run folder, or one written by an older rsed); choose another --out, or pass --overwrite to use it")
        shutil.rmtree(out / "results", ignore_errors=True)
    if data is None:
        data = {"format_version": RUN_FORMAT_VERSION, "config_hash": wanted, "config": identity, "created": _now(), "rsed_version": __version__, "rows": {}}
    rows = data.setdefault("rows", {})
    wanted_row = row_config(experiment)
    stored_row = rows.get(experiment.row_id)
    if stored_row is not None and stored_row != wanted_row:
        if not overwrite:
            diff = "; ".join(_differences(stored_row, wanted_row))
            raise RsedError(out, f"row {experiment.row_id!r} was run here with another definition ({diff}); pass --overwrite to replace it")
        (out / "results" / "rows" / f"{experiment.row_id}.json").unlink(missing_ok=True)
    rows[experiment.row_id] = wanted_row
    write_json(path, data)


# --------------------------------------------------------------------------------------
# Detectors: trained once per (class, architecture, tau), keyed by configuration, data and code
# --------------------------------------------------------------------------------------


def model_folder(out: Path, architecture: str, class_name: str, tau: int | None = None) -> Path:
    """Where a detector lives: ``models/<class>_crnn_t<tau>`` (what ``rsed detect`` reads),
    ``models/cnn/<class>_cnn_t<tau>`` and ``models/fnn/<class>_fnn`` (kept apart, so
    ``rsed detect --models RUN/models`` never averages a CNN into a CRNN ensemble)."""
    models = Path(out) / "models"
    if architecture == "crnn":
        return models / f"{class_name}_crnn_t{tau}"
    if architecture == "fnn":
        return models / "fnn" / f"{class_name}_fnn"
    return models / architecture / f"{class_name}_{architecture}_t{tau}"


def _cache_fingerprint(path: Path) -> str:
    """The cache's name (parameters and mixture set) and the fingerprint of the audio it was built from."""
    from .features import open_cache

    with open_cache(path) as handle:
        value = handle.attrs["inputs_fingerprint"]
    return f"{path.name}:{value.decode() if isinstance(value, bytes) else value}"


def model_key(settings: list, caches: list[Path]) -> str:
    """Key of a detector: its settings, the training and validation data it saw, and the rsed version."""
    return config_hash([settings, [_cache_fingerprint(c) for c in caches], __version__], length=16)


def _stored_key(folder: Path) -> str | None:
    path = folder / "run_key.txt"
    return path.read_text().strip() if path.is_file() else None


def _reuse_or_prepare(folder: Path, key: str, complete: bool, *, overwrite: bool) -> bool:
    """True when ``folder`` holds a finished detector with ``key``; otherwise make it ready for training.

    A finished detector with another key (changed data, settings or code) is moved to
    ``.superseded/<name>-<key>/`` beside it, or deleted with ``overwrite``. An unfinished
    one begun with another key is cleared (its checkpoints belong to another model); one
    begun with this key is left to resume.
    """
    stored = _stored_key(folder)
    if complete and stored == key:
        return True
    if complete:
        if overwrite:
            shutil.rmtree(folder)
        else:
            target = folder.parent / ".superseded" / f"{folder.name}-{stored or 'unkeyed'}"
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            folder.replace(target)
            _log(f"{folder.name}: trained with other data, settings or code; kept as {target}, retraining")
    elif folder.is_dir():
        pending = folder / "pending_key.txt"
        if pending.is_file() and pending.read_text().strip() != key:
            shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / "pending_key.txt", key + "\n")
    return False


def _finish(folder: Path, key: str, seconds: float, structure: dict) -> None:
    """Mark a detector finished: its key, and how long and how many epochs it trained."""
    log = folder / "train_log.csv"
    epochs = max(0, len(log.read_text().splitlines()) - 1) if log.is_file() else None
    write_json(folder / "training.json", {"key": key, "seconds": round(seconds, 1), "epochs": epochs, "finished": _now(), "structure": structure, "rsed_version": __version__})
    write_text(folder / "run_key.txt", key + "\n")
    (folder / "pending_key.txt").unlink(missing_ok=True)


def _sequences(cache: Path, spec_mean, spec_std, frames_per_step: int):
    from .features import read_cache, to_steps
    from .features.windows import StepSequence

    seqs = []
    mean, std = np.asarray(spec_mean, np.float32), np.asarray(spec_std, np.float32)
    for clip in read_cache(cache):
        steps, labels = to_steps((clip.logmel - mean) / std, clip.labels, frames_per_step)
        seqs.append(StepSequence(clip.filename, steps.astype(np.float32), labels))
    return seqs


def train_or_load(root: Path, out: Path, experiment: Experiment, class_name: str, tau: int, caches: dict, *, overwrite: bool = False) -> Path:
    """Train one detector unless a complete one with the same key exists; return its folder."""
    from .models.detector import DetectorSpec, is_complete, save_detector
    from .features import compute_stats
    from .training.streaming import CachedSteps
    from .models.builders import describe
    from .training.fit import build_model, train_detector

    model_config = dataclasses.replace(experiment.model, timesteps=tau)
    folder = model_folder(out, experiment.architecture, class_name, tau)
    train_cache = caches[experiment.train_subset, class_name]
    val_cache = caches[experiment.validation_subset, class_name]
    key = model_key([experiment.architecture, model_config, experiment.training, experiment.features], [train_cache, val_cache])
    if _reuse_or_prepare(folder, key, is_complete(folder), overwrite=overwrite):
        _log(f"{folder.name}: trained already, reusing")
        return folder
    mean, std = compute_stats([train_cache])
    train = CachedSteps(train_cache, mean, std, experiment.features.frames_per_step)  # windows read from disk while training
    val = _sequences(val_cache, mean, std, experiment.features.frames_per_step)
    _log(f"{folder.name}: training ({experiment.training.schedule} schedule, {len(train)} training clips, {len(val)} validation clips)")
    model = build_model(experiment.architecture, model_config, experiment.features.frames_per_step, experiment.features.n_mels, seed=experiment.training.seed)
    started = time.time()
    history = train_detector(model, train, val, experiment.training, folder, resume_key=key)
    spec = DetectorSpec(class_name, experiment.architecture, model_config, experiment.features, experiment.training, tuple(mean), tuple(std), history.logit_shift)
    save_detector(folder, model, spec)
    _finish(folder, key, time.time() - started, describe(model))
    _log(f"{folder.name}: trained in {time.time() - started:.0f} s")
    return folder


def train_or_load_baseline(out: Path, experiment: Experiment, class_name: str, caches: dict, *, overwrite: bool = False) -> Path:
    """Train the challenge baseline (FNN) of one class unless a complete one with the same key exists."""
    from .models.baseline_detector import BaselineSpec, is_complete_baseline, save_baseline
    from .training.baseline import train_baseline
    from .features import compute_stats, read_cache
    from .models.builders import build_fnn, describe

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
    train = [(spec.normalise(c.logmel), c.labels) for c in read_cache(train_cache)]
    val = [(spec.normalise(c.logmel), c.labels) for c in read_cache(val_cache)]
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


# --------------------------------------------------------------------------------------
# Predictions (saved per model, so thresholds can be re-tuned without retraining)
# --------------------------------------------------------------------------------------


def _prediction_key(folders: list[Path], cache: Path) -> str:
    return config_hash([(f / "run_key.txt").read_text() for f in folders] + [cache.name, cache.stat().st_mtime_ns])


def _load_predictions(path: Path, key: str) -> dict[str, np.ndarray] | None:
    if path.is_file():
        with np.load(path) as data:
            if "__key__" in data.files and str(data["__key__"]) == key:
                return {name: data[name] for name in data.files if name != "__key__"}
    return None


def _save_predictions(path: Path, key: str, probs: dict[str, np.ndarray]) -> None:
    from .fileio import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, __key__=np.array(key), **probs)


def predict_subset(folders: list[Path], cache: Path, out_file: Path) -> dict[str, np.ndarray]:
    """Per-step ensemble probabilities of every clip of a cache, saved as ``.npz`` (one array per clip).

    The file stores a key of the detectors and the cache it came from, so a stale file is
    recomputed and a current one is reused.
    """
    from .models.detector import load_detector
    from .features import read_cache
    from .inference.sliding import clip_probabilities

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
    from .inference.baseline import frame_probabilities
    from .models.baseline_detector import load_baseline
    from .features import read_cache

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


# --------------------------------------------------------------------------------------
# Running rows
# --------------------------------------------------------------------------------------


def _subsets(root: Path, experiment: Experiment, classes: list[str]) -> list[str]:
    subsets = [experiment.train_subset, experiment.validation_subset, experiment.dev_subset]
    if any(s.class_name in classes for s in find_mixture_sets(root, experiment.test_subset)):
        subsets.append(experiment.test_subset)
    return subsets


def _build_caches(root: Path, out: Path, experiment: Experiment, classes: list[str], subsets: list[str], workers: int | None) -> dict:
    """Feature caches of every (subset, class); the FNN row's under ``('baseline', subset, class)``."""
    from .features import build_cache

    caches = {}
    for subset in subsets:
        for c in classes:
            if subset == experiment.test_subset and not find_mixture_sets(root, subset, [c]):
                continue
            mixtures = mixture_set(root, subset, c)
            if experiment.architecture == "fnn":
                from .features.baseline import extract_baseline_file

                caches["baseline", subset, c] = build_cache(mixtures, experiment.baseline_features, out / "features" / "baseline", workers=workers, extractor=extract_baseline_file)
            else:
                caches[subset, c] = build_cache(mixtures, experiment.features, out / "features", workers=workers)
    return caches


def _model_info(folder: Path, out: Path, reused: bool) -> dict:
    """A detector's entry in a row record: folder, whether this run reused it, key, training time, structure."""
    info = {"folder": str(folder.relative_to(out)), "reused": reused}
    path = folder / "training.json"
    if path.is_file():
        data = read_json(path)
        info.update({k: data.get(k) for k in ("key", "seconds", "epochs", "structure")})
    return info


def run(
    root: str | Path,
    out: str | Path,
    experiment: Experiment = Experiment(),
    classes: list[str] | None = None,
    *,
    workers: int | None = None,
    overwrite: bool = False,
) -> RunResult:
    """Run one row end to end into the run folder ``out`` and rebuild ``out/results`` (tables, scores, record).

    A row whose classes are not in the data (or not among ``classes``) is skipped: the result
    says why and nothing is written.
    """
    from .data.layout import check_root

    root, out = check_root(root), Path(out)
    started = time.time()
    present = resolve_classes(root, experiment, classes)
    row_classes = [c for c in present if not experiment.classes or c in experiment.classes]
    if not row_classes:
        reason = f"class(es) {', '.join(experiment.classes)} not among the selected classes of the data ({', '.join(present)})"
        _log(f"row {experiment.row_id}: skipped, {reason}")
        return RunResult(out, [], row=experiment.row_id, skipped=reason)
    open_run(out, run_identity(root, experiment, classes), experiment, overwrite=overwrite)
    subsets = _subsets(root, experiment, row_classes)
    _log(f"row {experiment.row_id} ({experiment.name}): classes {', '.join(row_classes)}; subsets {', '.join(subsets)}; {experiment.training.schedule} schedule")
    caches = _build_caches(root, out, experiment, row_classes, subsets, workers)
    result = RunResult(out, row_classes, row=experiment.row_id)
    record: dict = {"per_class": {}}
    for c in row_classes:
        folders, reused = _train_members(root, out, experiment, c, caches, overwrite=overwrite)
        class_record = {"members": {tag: _model_info(f, out, reused[tag]) for tag, f in folders.items()}, "scores": {}, "member_scores": {}}
        post, class_record["postprocess"] = _choose_postprocess(root, out, experiment, c, folders, caches)
        for subset in subsets[2:]:
            cache = caches.get(("baseline", subset, c) if experiment.architecture == "fnn" else (subset, c))
            if cache is None:
                continue
            score, member_scores = _score_subset(root, out, experiment, c, subset, folders, cache, post)
            result.scores.setdefault(subset, {})[c] = score
            class_record["scores"][subset] = dataclasses.asdict(score)
            for tag, member_score in member_scores.items():
                class_record["member_scores"].setdefault(tag, {})[subset] = dataclasses.asdict(member_score)
        record["per_class"][c] = class_record
    _write_row_record(result, experiment, record, time.time() - started)
    write_results(out)
    return result


def _train_members(root: Path, out: Path, experiment: Experiment, class_name: str, caches: dict, *, overwrite: bool) -> tuple[dict[str, Path], dict[str, bool]]:
    """Train or reuse the models of one class's ensemble: ``({tag: folder}, {tag: reused})``."""
    folders, reused = {}, {}
    for tag in experiment.members(class_name):
        if experiment.architecture == "fnn":
            key_before = _stored_key(model_folder(out, "fnn", class_name))
            folders[tag] = train_or_load_baseline(out, experiment, class_name, caches, overwrite=overwrite)
        else:
            tau = int(tag[1:])
            key_before = _stored_key(model_folder(out, experiment.architecture, class_name, tau))
            folders[tag] = train_or_load(root, out, experiment, class_name, tau, caches, overwrite=overwrite)
        reused[tag] = key_before is not None and key_before == _stored_key(folders[tag])
    return folders, reused


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
            member_probs[tag] = predict_subset([folder], cache, predictions / f"{class_name}_{arch}_{tag}.npz")
    if len(tags) == 1:
        return member_probs[tags[0]], member_probs
    probs = ensemble_predictions([member_probs[t] for t in tags])
    key = config_hash([_prediction_key([f], cache) for f in folders.values()])
    if _load_predictions(predictions / f"{stem}.npz", key) is None:
        _save_predictions(predictions / f"{stem}.npz", key, probs)
    return probs, member_probs


def _output_stem(experiment: Experiment, class_name: str, tags: list[str]) -> str:
    arch = experiment.architecture
    return f"{class_name}_{arch}" if arch == "fnn" else f"{class_name}_{arch}_" + "+".join(tags)


def _choose_postprocess(root: Path, out: Path, experiment: Experiment, class_name: str, folders: dict[str, Path], caches: dict) -> tuple[PostprocessConfig, dict]:
    """The paper's thresholds with the look-back that does best on the validation subset (rsed/lookback.py), and its record.

    The FNN row keeps the baseline's own post-processing; an empty ``lookback_grid`` keeps the default look-back.
    """
    from .evaluation.lookback import best_lookback, lookback_trials

    base = experiment.postprocess_for(class_name)
    cache = caches.get((experiment.validation_subset, class_name))
    if experiment.architecture == "fnn" or not experiment.lookback_grid or cache is None:
        return base, {"lookback_seconds": base.lookback_seconds, "chosen_on": None}
    probs, _ = _subset_probabilities(out, experiment, class_name, experiment.validation_subset, folders, cache)
    reference = mixture_set(root, experiment.validation_subset, class_name).events()
    trials = lookback_trials(probs, reference, class_name, base, experiment.features.step_seconds, experiment.lookback_grid, experiment.scoring)
    chosen = best_lookback(trials)
    _log(f"{class_name}: onset look-back {chosen:g} s (lowest error rate on {experiment.validation_subset} among {', '.join(f'{t:g}' for t in sorted(experiment.lookback_grid))} s)")
    record = {"lookback_seconds": chosen, "chosen_on": experiment.validation_subset, "trials": [dataclasses.asdict(t) for t in trials]}
    return dataclasses.replace(base, lookback_seconds=chosen), record


def _score_subset(root: Path, out: Path, experiment: Experiment, class_name: str, subset: str, folders: dict[str, Path], cache: Path, post: PostprocessConfig) -> tuple[ClassScore, dict[str, ClassScore]]:
    """Predict (or reuse) each member on a subset, average them, decide with ``post``, write the event lists and score.

    Returns the ensemble's score and, for an ensemble of several models, each member's.
    """
    from .data.layout import write_event_list

    arch, tags = experiment.architecture, list(folders)
    estimates = out / "estimates" / subset
    reference = mixture_set(root, subset, class_name).events()
    probs, member_probs = _subset_probabilities(out, experiment, class_name, subset, folders, cache)
    member_scores = {}
    if len(tags) > 1:
        for tag in tags:
            events = _decide(member_probs[tag], class_name, experiment, post)
            write_event_list(estimates / f"{class_name}_{arch}_{tag}.csv", events)
            member_scores[tag] = score_class(class_name, reference, events, experiment.scoring)
    events = _decide(probs, class_name, experiment, post)
    write_event_list(estimates / f"{_output_stem(experiment, class_name, tags)}.csv", events)
    return score_class(class_name, reference, events, experiment.scoring), member_scores


def _decide(probs: dict[str, np.ndarray], class_name: str, experiment: Experiment, post: PostprocessConfig) -> list[MixtureEvent]:
    """Events from probabilities: the paper's two thresholds (``post``), or the baseline's median filter for the FNN."""
    if experiment.architecture == "fnn":
        from .inference.baseline import baseline_detect_all

        return baseline_detect_all(probs, class_name, experiment.baseline_postprocess, experiment.baseline_features.frame_seconds)
    return detect_all(probs, class_name, post, experiment.features.step_seconds)


def run_rows(
    root: str | Path,
    out: str | Path,
    experiments: list[Experiment],
    classes: list[str] | None = None,
    *,
    workers: int | None = None,
    overwrite: bool = False,
) -> list[RunResult]:
    """Run several rows in order into one run folder (see :func:`run`)."""
    return [run(root, out, experiment, classes, workers=workers, overwrite=overwrite) for experiment in experiments]


# --------------------------------------------------------------------------------------
# Results: one record per row, tables and the run record rebuilt from them
# --------------------------------------------------------------------------------------


def _write_row_record(result: RunResult, experiment: Experiment, record: dict, seconds: float) -> None:
    test = experiment.test_subset if experiment.test_subset in result.scores else experiment.dev_subset
    record.update(
        {
            "format_version": 1,
            "row": experiment.row_id,
            "name": experiment.name,
            "table": experiment.table,
            "architecture": experiment.architecture,
            "schedule": experiment.baseline_training.schedule if experiment.architecture == "fnn" else experiment.training.schedule,
            "classes": result.classes,
            "timesteps": {c: list(experiment.timesteps_for(c)) for c in result.classes} if experiment.architecture != "fnn" else {},
            "subsets": {"dev": experiment.dev_subset, "test": test},
            "class_average": {sub: dict(zip(("error_rate", "f_measure"), result.averages(sub))) for sub in result.scores},
            "config_hash": config_hash(row_config(experiment)),
            "experiment": dataclasses.asdict(experiment),
            "seconds": round(seconds, 1),
            "finished": _now(),
        }
    )
    write_json(result.out / "results" / "rows" / f"{experiment.row_id}.json", record)


def _package_versions() -> dict[str, str | None]:
    from importlib import metadata

    names = ("tensorflow", "keras", "numpy", "scipy", "librosa", "h5py", "soundfile", "sed_eval", "dcase_util", "scikit-learn")
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _hardware() -> dict:
    import os

    info = {"machine": platform.machine(), "processor": platform.processor() or None, "cpu_count": os.cpu_count(), "gpus": []}
    try:
        import tensorflow as tf

        info["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # pragma: no cover - hardware listing is informative only
        pass
    return info


def _git_revision() -> str | None:
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def write_results(out: str | Path) -> None:
    """Rebuild ``results/``: Tables 2, 3 and 4 (Markdown and CSV), ``scores.json`` and ``run_record.json``."""
    from .evaluation.tables import build_table2, build_table3, build_table4, render_table2, render_table3, render_table4, table2_csv, table3_csv, table4_csv

    out = Path(out)
    records = read_row_records(out)
    if not records:
        return
    run_data = read_json(out / RUN_FILE) if (out / RUN_FILE).is_file() else {}
    results = out / "results"
    t4 = build_table4(records)
    write_text(results / "table4.md", render_table4(t4["rows"], t4["classes"], title=t4["title"], notes=t4["notes"]))
    write_text(results / "table4.csv", table4_csv(t4["rows"], t4["classes"]))
    t2 = build_table2(records)
    write_text(results / "table2.md", render_table2(t2))
    write_text(results / "table2.csv", table2_csv(t2))
    t3 = build_table3(records, run_data.get("config", {}))
    write_text(results / "table3.md", render_table3(t3))
    write_text(results / "table3.csv", table3_csv(t3))
    write_json(results / "scores.json", {"rows": {r["row"]: {k: r[k] for k in ("name", "table", "architecture", "classes", "subsets", "class_average", "per_class")} for r in records}})
    config = run_data.get("config", {})
    write_json(
        results / "run_record.json",
        {
            "rsed_version": __version__,
            "git_revision": _git_revision(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "packages": _package_versions(),
            "hardware": _hardware(),
            "run": {k: run_data.get(k) for k in ("config_hash", "created", "rsed_version")},
            "configuration": config,
            "seeds": {"training": config.get("training", {}).get("seed"), "baseline_training": config.get("baseline", {}).get("training", {}).get("seed")},
            "rows": {
                r["row"]: {
                    "config_hash": r["config_hash"],
                    "seconds": r["seconds"],
                    "finished": r["finished"],
                    "models": {f"{c}/{tag}": m for c, pc in r["per_class"].items() for tag, m in pc["members"].items()},
                }
                for r in records
            },
            "updated": _now(),
        },
    )


# --------------------------------------------------------------------------------------
# The rows of the paper
# --------------------------------------------------------------------------------------

#: One detector per class for the short demo schedule (the full Table 2 ensembles need the paper schedule).
SHORT_TIMESTEPS = (("babycry", (5,)), ("glassbreak", (3,)), ("gunshot", (5,)))

SCHEDULES = ("short", "paper")


def base_experiment(schedule: str) -> Experiment:
    """The shared settings of every row under ``schedule``: 'paper' (full training) or 'short' (demo data)."""
    from .config import SHORT_BASELINE_TRAIN, SHORT_TRAIN

    if schedule == "paper":
        return Experiment()
    if schedule == "short":
        return Experiment(training=SHORT_TRAIN, baseline_training=SHORT_BASELINE_TRAIN)
    raise ValueError(f"unknown schedule {schedule!r}; choose 'short' or 'paper'")


def paper_rows(schedule: str) -> dict[str, Experiment]:
    """Every row of Tables 3, 2 and 4 in the order ``make reproduce`` runs them.

    Table 3: one CRNN per class and tau (``crnn_<class>_t<tau>``); Table 2: each class's
    timestep ensemble (``ensemble_<class>``); Table 4: the CRNN, CNN and FNN rows over every
    class of the data.
    """
    base = base_experiment(schedule)
    rows: dict[str, Experiment] = {}
    for c, taus in PAPER_TIMESTEPS.items():
        for t in taus:
            row = f"crnn_{c}_t{t}"
            rows[row] = dataclasses.replace(base, name=f"CRNN {c} t{t}", row=row, table="3", classes=(c,), timesteps=((c, (t,)),))
    for c, taus in PAPER_TIMESTEPS.items():
        row = f"ensemble_{c}"
        rows[row] = dataclasses.replace(base, name=f"CRNN {c} ensemble", row=row, table="2", classes=(c,), timesteps=((c, tuple(taus)),))
    rows["crnn"] = dataclasses.replace(base, name="CRNN", row="crnn")
    rows["cnn"] = dataclasses.replace(base, name="CNN", row="cnn", architecture="cnn")
    rows["fnn"] = dataclasses.replace(base, name="FNN", row="fnn", architecture="fnn")
    return rows


def rows_for(schedule: str) -> dict[str, Experiment]:
    """:func:`paper_rows` plus ``crnn_demo`` (the demo's CRNN: one timestep model per class)."""
    return {**paper_rows(schedule), "crnn_demo": dataclasses.replace(base_experiment(schedule), row="crnn_demo", timesteps=SHORT_TIMESTEPS)}


def experiment_for(schedule: str) -> Experiment:
    """The default row of ``schedule``: 'paper' -> the CRNN row (Table 2 ensembles), 'short' -> ``crnn_demo``."""
    return rows_for(schedule)["crnn" if schedule == "paper" else "crnn_demo"]


# --------------------------------------------------------------------------------------
# Command line glue, shared by ``rsed reproduce`` and the scripts in experiments/
# --------------------------------------------------------------------------------------


def add_reproduce_arguments(parser: argparse.ArgumentParser, *, rows: bool = True) -> argparse.ArgumentParser:
    """The options of ``rsed reproduce`` (and, without ``--rows``, of every experiments/ script)."""
    parser.add_argument("--root", help="data root in the mixture layout (default: $RSED_DATA)")
    parser.add_argument("--out", required=True, help="run folder (features, models, predictions, results); a rerun resumes it")
    parser.add_argument("--classes", nargs="+", help="limit to these classes (default: every class in the data)")
    parser.add_argument("--schedule", choices=list(SCHEDULES), default="paper", help="'paper': the paper's training; 'short': a few epochs (demo)")
    parser.add_argument("--workers", type=int, help="feature extraction processes (default: every core)")
    parser.add_argument("--overwrite", action="store_true", help="replace the results of a run folder that holds another configuration")
    parser.add_argument(
        "--strategy",
        choices=["default", "mirrored", "multiworker"],
        default="default",
        help="train on one device, on every GPU of this host, or on the hosts in TF_CONFIG (docs/training.md)",
    )
    parser.add_argument("--mixed-precision", action="store_true", help="train in float16 on a GPU (ignored on the CPU)")
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic TensorFlow ops on one CPU thread: the same weights run after run (slower; docs/robustness.md)",
    )
    if rows:
        parser.add_argument(
            "--rows",
            nargs="+",
            metavar="ROW",
            help="rows to run, in order ('all': every row of Tables 2-4; default: crnn_demo with --schedule short, crnn with paper); "
            "names: " + ", ".join(rows_for("paper")),
        )
    return parser


def with_training_options(experiment: Experiment, *, strategy: str = "default", mixed_precision: bool = False) -> Experiment:
    """``experiment`` with the distribution strategy and precision of the command line (docs/training.md)."""
    training = dataclasses.replace(experiment.training, strategy=strategy, mixed_precision=mixed_precision)
    return dataclasses.replace(experiment, training=training)


def _root(value: str | None) -> Path:
    import os

    value = value or os.environ.get("RSED_DATA")
    if not value:
        raise RsedError(None, "no data root: pass --root DIR or set RSED_DATA")
    return Path(value)


def experiments_from_args(args: argparse.Namespace) -> list[Experiment]:
    """The rows an ``rsed reproduce`` command line names, with its training options applied."""
    available = rows_for(args.schedule)
    names = list(getattr(args, "rows", None) or [experiment_for(args.schedule).row_id])
    if names == ["all"]:
        names = list(paper_rows(args.schedule))
    unknown = [n for n in names if n not in available]
    if unknown:
        raise RsedError(None, f"unknown row(s) {', '.join(unknown)}; choose from all, {', '.join(available)}")
    options = dict(strategy=getattr(args, "strategy", "default"), mixed_precision=bool(getattr(args, "mixed_precision", False)))
    return [with_training_options(available[n], **options) for n in names]


def reproduce_from_args(args: argparse.Namespace) -> list[RunResult]:
    """Run the rows an ``rsed reproduce`` command line names; print Table 4 and each row's scores."""
    experiments = experiments_from_args(args)
    if getattr(args, "deterministic", False):
        from .training.fit import make_deterministic

        make_deterministic()
    if experiments[0].training.strategy != "default":
        from .training.distribute import make_strategy

        # Before TensorFlow runs anything: a multi-worker strategy configures the runtime once.
        make_strategy(experiments[0].training.strategy)
    results = run_rows(_root(args.root), Path(args.out), experiments, classes=args.classes, workers=args.workers, overwrite=args.overwrite)
    print_summary(results)
    return results


def print_summary(results: list[RunResult]) -> None:
    """Table 4 of the run folder beside the paper, then each row's class-averaged scores."""
    finished = [r for r in results if r.skipped is None]
    if finished:
        table = finished[-1].out / "results" / "table4.md"
        if table.is_file():
            print(table.read_text(encoding="utf-8"))
    for r in results:
        if r.skipped is not None:
            print(f"{r.row}: skipped ({r.skipped})")
            continue
        for subset, scores in r.scores.items():
            er, f1 = r.averages(subset)
            detail = ", ".join(f"{c} ER {s.error_rate:.2f} F1 {100 * s.f_measure:.1f}%" for c, s in scores.items())
            print(f"{r.row} {subset}: class-averaged ER {er:.3f}, F1 {100 * f1:.1f}% ({detail})")


def main_for_row(row: str, argv: list[str] | None = None) -> int:
    """Entry point of one experiments/ script: run row ``row`` with ``--root/--out/--schedule ...``; exit status."""
    import os

    parser = add_reproduce_arguments(argparse.ArgumentParser(description=f"Run the row {row!r} of the paper's tables (rsed reproduce --rows {row})."), rows=False)
    args = parser.parse_args(argv)
    args.rows = [row]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from .cli import exit_status

    return exit_status(reproduce_from_args, args)
