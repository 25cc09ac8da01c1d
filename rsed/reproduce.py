"""The whole pipeline on a data root in the mixture layout: features, training, detection, scores, tables.

Stages are resumable: feature caches are keyed by their parameters and inputs, a detector
folder that is complete with the same configuration is not retrained, and every output file
is written atomically. Model selection uses the validation subset only; test subsets are
predicted once at the end.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .config import (
    FeatureConfig,
    ModelConfig,
    PostprocessConfig,
    ScoringConfig,
    TrainConfig,
    config_hash,
    paper_postprocess,
)
from .data.layout import MixtureEvent, find_mixture_sets, mixture_set
from .errors import DataError
from .evaluation import ClassScore, class_average, score_class
from .fileio import write_json, write_text
from .postprocessing import detect_event
from .tables import render_table4, table4_csv


@dataclass(frozen=True)
class Experiment:
    """One row of Table 4: an architecture, its timestep ensemble per class, and its schedule."""

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

    def timesteps_for(self, class_name: str) -> tuple[int, ...]:
        """The ensemble of a class (Table 2), or ``default_timesteps`` for a class the paper lacks."""
        return dict(self.timesteps).get(class_name, self.default_timesteps)

    def postprocess_for(self, class_name: str) -> PostprocessConfig:
        return paper_postprocess(class_name)


@dataclass
class RunResult:
    """Scores of a finished run: ``scores[subset][class]`` and the output folder."""

    out: Path
    classes: list[str]
    scores: dict[str, dict[str, ClassScore]] = field(default_factory=dict)

    def averages(self, subset: str) -> tuple[float, float]:
        return class_average(list(self.scores[subset].values()))


def _log(message: str) -> None:
    print(f"[rsed] {message}", file=sys.stderr, flush=True)


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


def _sequences(cache: Path, spec_mean, spec_std, frames_per_step: int):
    from .features import read_cache, to_steps
    from .windows import StepSequence

    seqs = []
    mean, std = np.asarray(spec_mean, np.float32), np.asarray(spec_std, np.float32)
    for clip in read_cache(cache):
        steps, labels = to_steps((clip.logmel - mean) / std, clip.labels, frames_per_step)
        seqs.append(StepSequence(clip.filename, steps.astype(np.float32), labels))
    return seqs


def train_or_load(root: Path, out: Path, experiment: Experiment, class_name: str, tau: int, caches: dict) -> Path:
    """Train one detector unless a complete one with the same configuration exists; return its folder."""
    from .detector import DetectorSpec, is_complete, save_detector
    from .features import compute_stats
    from .streaming import CachedSteps
    from .training import build_model, train_detector

    model_config = dataclasses.replace(experiment.model, timesteps=tau)
    folder = out / "models" / f"{class_name}_{experiment.architecture}_t{tau}"
    key = config_hash([experiment.architecture, model_config, experiment.training, experiment.features, str(caches[experiment.train_subset, class_name].name)])
    if is_complete(folder) and (folder / "run_key.txt").is_file() and (folder / "run_key.txt").read_text().strip() == key:
        _log(f"{folder.name}: trained already, reusing")
        return folder
    train_cache = caches[experiment.train_subset, class_name]
    mean, std = compute_stats([train_cache])
    train = CachedSteps(train_cache, mean, std, experiment.features.frames_per_step)  # windows read from disk while training
    val = _sequences(caches[experiment.validation_subset, class_name], mean, std, experiment.features.frames_per_step)
    _log(f"{folder.name}: training ({experiment.training.schedule} schedule, {len(train)} training clips, {len(val)} validation clips)")
    model = build_model(experiment.architecture, model_config, experiment.features.frames_per_step, experiment.features.n_mels, seed=experiment.training.seed)
    started = time.time()
    train_detector(model, train, val, experiment.training, folder, resume_key=key)
    spec = DetectorSpec(class_name, experiment.architecture, model_config, experiment.features, experiment.training, tuple(mean), tuple(std))
    save_detector(folder, model, spec)
    write_text(folder / "run_key.txt", key + "\n")
    _log(f"{folder.name}: trained in {time.time() - started:.0f} s")
    return folder


def predict_subset(folders: list[Path], cache: Path, out_file: Path) -> dict[str, np.ndarray]:
    """Per-step ensemble probabilities of every clip of a cache, saved as ``.npz`` (one array per clip).

    The file stores a key of the detectors and the cache it came from, so a stale file is
    recomputed and a current one is reused.
    """
    from .detector import load_detector
    from .features import read_cache
    from .fileio import atomic_path
    from .inference import clip_probabilities

    key = config_hash([(f / "run_key.txt").read_text() for f in folders] + [cache.name, cache.stat().st_mtime_ns])
    if out_file.is_file():
        with np.load(out_file) as data:
            if "__key__" in data.files and str(data["__key__"]) == key:
                return {name: data[name] for name in data.files if name != "__key__"}
    detectors = [load_detector(f) for f in folders]
    probs = {clip.filename: clip_probabilities(detectors, clip.logmel) for clip in read_cache(cache)}
    with atomic_path(out_file) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, __key__=np.array(key), **probs)
    return probs


def detect_all(probs: dict[str, np.ndarray], class_name: str, config: PostprocessConfig, step_seconds: float) -> list[MixtureEvent]:
    """Apply the two-threshold decision to every clip: at most one event per clip."""
    events = []
    for name, p in probs.items():
        det = detect_event(p, step_seconds, config)
        if det is not None:
            events.append(MixtureEvent(name, round(det.onset, 4), round(det.offset, 4), class_name))
    return events


def run(root: str | Path, out: str | Path, experiment: Experiment = Experiment(), classes: list[str] | None = None, *, workers: int | None = None) -> RunResult:
    """Run one experiment end to end and write ``out/results`` (scores JSON, Table 4 Markdown and CSV)."""
    from .data.layout import check_root, write_event_list
    from .features import build_cache

    root, out = check_root(root), Path(out)
    started = time.time()
    classes = resolve_classes(root, experiment, classes)
    subsets = [experiment.train_subset, experiment.validation_subset, experiment.dev_subset]
    if any(s.class_name in classes for s in find_mixture_sets(root, experiment.test_subset)):
        subsets.append(experiment.test_subset)
    _log(f"classes: {', '.join(classes)}; subsets: {', '.join(subsets)}; schedule: {experiment.training.schedule}")
    caches = {}
    for subset in subsets:
        for c in classes:
            if subset == experiment.test_subset and not find_mixture_sets(root, subset, [c]):
                continue
            caches[subset, c] = build_cache(mixture_set(root, subset, c), experiment.features, out / "features", workers=workers)
    result = RunResult(out, classes)
    for c in classes:
        folders = [train_or_load(root, out, experiment, c, tau, caches) for tau in experiment.timesteps_for(c)]
        for subset in subsets[2:]:
            if (subset, c) not in caches:
                continue
            tag = "+".join(f"t{t}" for t in experiment.timesteps_for(c))
            probs = predict_subset(folders, caches[subset, c], out / "predictions" / subset / f"{c}_{experiment.architecture}_{tag}.npz")
            estimates = detect_all(probs, c, experiment.postprocess_for(c), experiment.features.step_seconds)
            write_event_list(out / "estimates" / subset / f"{c}_{experiment.architecture}_{tag}.csv", estimates)
            reference = mixture_set(root, subset, c).events()
            result.scores.setdefault(subset, {})[c] = score_class(c, reference, estimates, experiment.scoring)
    _write_results(result, experiment, time.time() - started)
    return result


def _write_results(result: RunResult, experiment: Experiment, seconds: float) -> None:
    test = experiment.test_subset if experiment.test_subset in result.scores else experiment.dev_subset
    per_class = {c: s.error_rate for c, s in result.scores[test].items()}
    row = {**per_class, "dev": result.averages(experiment.dev_subset)[0], "test": result.averages(test)[0]}
    label = f"{experiment.name}" + (" (short schedule)" if experiment.training.schedule != "paper" else "")
    title = f"Table 4 (ER): per-class and 'test' on {test}, 'dev' on {experiment.dev_subset}; {label}"
    results_dir = result.out / "results"
    write_text(results_dir / "table4.md", render_table4({experiment.name: row}, result.classes, title=title))
    write_text(results_dir / "table4.csv", table4_csv({experiment.name: row}, result.classes))
    write_json(
        results_dir / "scores.json",
        {
            "experiment": dataclasses.asdict(experiment),
            "scores": {sub: {c: dataclasses.asdict(s) for c, s in d.items()} for sub, d in result.scores.items()},
            "class_average": {sub: dict(zip(("error_rate", "f_measure"), result.averages(sub))) for sub in result.scores},
            "seconds": round(seconds, 1),
            "rsed_version": __version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    )


#: One detector per class for the short demo schedule (the full Table 2 ensembles need the paper schedule).
SHORT_TIMESTEPS = (("babycry", (9,)), ("glassbreak", (3,)), ("gunshot", (5,)))


def experiment_for(schedule: str) -> Experiment:
    """The CRNN experiment for ``schedule``: 'paper' (Table 2 ensembles, full training) or 'short' (the demo)."""
    from .config import SHORT_TRAIN

    if schedule == "paper":
        return Experiment()
    if schedule == "short":
        return Experiment(timesteps=SHORT_TIMESTEPS, default_timesteps=(5,), training=SHORT_TRAIN)
    raise ValueError(f"unknown schedule {schedule!r}; choose 'short' or 'paper'")
