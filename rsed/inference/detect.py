"""Detection on any recording with trained detector folders (the ``rsed detect`` command).

Which detectors form a class's ensemble (docs/analysis.md):

1. ``models`` is one detector folder, or a folder of detector folders (a run's ``models/``).
2. Per class, one architecture: ``architecture`` when given, else ``crnn`` when the class has a
   CRNN detector, else the only architecture it has (several and no CRNN: an error).
3. The members: ``timesteps`` when given; else, for a class a run scored, the ensemble its
   row records hold (``results/rows/``: the Table 2 ensemble of the paper schedule, one
   timestep for the short one's demo row); else every detector of that class and architecture, which must share
   their feature and training settings.

The thresholds are the paper's (t1 per class, t2 = 0.5) and the onset look-back and onset rule are
the ones the run chose on its validation subset for that ensemble (rsed/evaluation/lookback.py; the
default 3 s and 'earliest' for detectors outside a run), as the run applied them.
Any audio libsndfile reads (WAV, FLAC, OGG, MP3 with libsndfile >= 1.1) at any rate and with any
number of channels is resampled to the detectors' rate and down-mixed by averaging the
channels; the whole file is one probability sequence, whatever its length.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import FeatureConfig, PostprocessConfig, paper_postprocess
from ..errors import AudioError, CacheError, RsedError
from ..models.detector import DetectorSpec, is_complete, load_spec
from ..records import read_row_records, row_lookbacks, row_onset_rules
from .postprocessing import detect_event

#: Architecture used when a class has detectors of several architectures and none is asked for.
DEFAULT_ARCHITECTURE = "crnn"


@dataclass(frozen=True)
class Ensemble:
    """The detectors of one class whose per-step probabilities are averaged (Table 2), and its thresholds."""

    class_name: str
    architecture: str
    folders: tuple[Path, ...]
    specs: tuple[DetectorSpec, ...]
    postprocess: PostprocessConfig
    models: tuple = field(default=(), compare=False, repr=False)

    @property
    def timesteps(self) -> tuple[int, ...]:
        return tuple(s.timesteps for s in self.specs)

    @property
    def features(self) -> FeatureConfig:
        return self.specs[0].features

    @property
    def members(self) -> list[tuple]:
        """``[(keras model, spec), ...]`` as :func:`rsed.inference.sliding.clip_probabilities` takes them."""
        return list(zip(self.models, self.specs, strict=True))

    def describe(self) -> str:
        taus = "+".join(f"t{t}" for t in self.timesteps)
        return f"{self.class_name}: {self.architecture} {taus} (t1 {self.postprocess.presence_threshold:g}, t2 {self.postprocess.onset_threshold:g})"


@dataclass(frozen=True)
class DetectionRow:
    """One detected event of a file and class (onset/offset in seconds), or none (onset None)."""

    file: str
    class_name: str
    onset: float | None
    offset: float | None
    peak_probability: float
    architecture: str = ""
    timesteps: tuple[int, ...] = ()
    presence_threshold: float = math.nan
    onset_threshold: float = math.nan

    def dcase_line(self) -> str:
        """``file\\tonset\\toffset\\tlabel``, or the file alone when nothing was detected."""
        if self.onset is None:
            return self.file
        return f"{self.file}\t{self.onset:.3f}\t{self.offset:.3f}\t{self.class_name}"

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "event_label": self.class_name if self.onset is not None else None,
            "onset": None if self.onset is None else round(self.onset, 4),
            "offset": None if self.offset is None else round(self.offset, 4),
            "class": self.class_name,
            "peak_probability": round(self.peak_probability, 4),
            "architecture": self.architecture,
            "timesteps": list(self.timesteps),
            "t1": self.presence_threshold,
            "t2": self.onset_threshold,
        }


@dataclass(frozen=True)
class FileProbabilities:
    """A recording's per-step probabilities for every class and its log-mel (for plots).

    ``probabilities[class] [S]``, ``logmel [T, n_mels]`` dB of the first ensemble's features,
    ``duration`` in seconds at the detectors' sample rate.
    """

    path: Path
    duration: float
    logmel: np.ndarray
    features: FeatureConfig
    probabilities: dict[str, np.ndarray]


# ----------------------------------------------------------------------------------------
# Choosing the detectors
# ----------------------------------------------------------------------------------------


def _detector_folders(models: Path) -> list[Path]:
    models = Path(models)
    if not models.is_dir():
        raise CacheError(models, "models folder not found" if not models.exists() else "not a folder")
    if is_complete(models):
        return [models]
    folders = sorted(p for p in models.iterdir() if p.is_dir() and is_complete(p))
    if not folders:
        raise CacheError(models, "holds no trained detector (expected folders with model.keras and detector.json)")
    return folders


def recorded_ensembles(models: Path) -> dict[tuple[str, str], tuple[int, ...]]:
    """``{(architecture, class): timesteps}`` of the ensembles the run owning ``models`` scored.

    Read from the run's row records (``results/rows/*.json``): for each architecture and class,
    the Table 4 row of that architecture (``crnn``, ``cnn``) if it scored the class, else its
    demo row (``crnn_demo``), else the other rows if they all agree (the Table 2 and 3 rows of
    one class may not). Empty when ``models`` is not a run's ``models/`` folder or nothing
    usable is recorded.
    """
    return {key: taus for key, (taus, _) in _recorded_rows(models).items()}


def _recorded_rows(models: Path) -> dict[tuple[str, str], tuple[tuple[int, ...], tuple | None]]:
    """``{(architecture, class): (timesteps, (onset look-back in s, onset rule) or None)}`` by the tiers of :func:`recorded_ensembles`."""
    models = Path(models)
    if models.name != "models" or not (models.parent / "results" / "rows").is_dir():
        return {}
    try:
        records = read_row_records(models.parent)
    except RsedError:
        return {}
    tiers: dict[tuple[str, str], dict[int, set]] = {}
    for record in records:
        if record.get("recipe"):
            continue  # its detectors live in models/<recipe>/, not among these
        try:
            arch, row = str(record["architecture"]), str(record["row"])
            recorded = {str(c): tuple(int(t) for t in taus) for c, taus in record["timesteps"].items()}
            lookbacks, rules = row_lookbacks(record), row_onset_rules(record)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        tier = 0 if row == arch else 1 if row == f"{arch}_demo" else 2
        for class_name, taus in recorded.items():
            if taus:
                choice = (lookbacks[class_name], rules.get(class_name, "earliest")) if class_name in lookbacks else None
                tiers.setdefault((arch, class_name), {}).setdefault(tier, set()).add((taus, choice))
    found = {}
    for key, by_tier in tiers.items():
        best = by_tier[min(by_tier)]
        if len({taus for taus, _ in best}) == 1:
            chosen = {lb for _, lb in best}
            found[key] = (next(iter(best))[0], chosen.pop() if len(chosen) == 1 else None)
    return found


def recorded_lookback(models: Path, architecture: str, class_name: str, timesteps: tuple[int, ...]) -> float | None:
    """The onset look-back (s) the run owning ``models`` chose for this ensemble, or None (then the default applies)."""
    choice = _choice_in(_recorded_rows(models), architecture, class_name, timesteps)
    return None if choice is None else choice[0]


def _choice_in(rows: dict, architecture: str, class_name: str, timesteps: tuple[int, ...]) -> tuple | None:
    """``(look-back in s, onset rule)`` recorded for this ensemble, or None."""
    taus, choice = rows.get((architecture, class_name), ((), None))
    return choice if tuple(sorted(taus)) == tuple(sorted(timesteps)) else None


def choose_ensembles(
    models: str | Path,
    classes: list[str] | None = None,
    *,
    architecture: str | None = None,
    timesteps: list[int] | None = None,
) -> dict[str, tuple[str, list[tuple[Path, DetectorSpec]]]]:
    """``{class: (architecture, [(folder, spec), ...])}`` by the rules of the module docstring; no model is loaded."""
    models = Path(models)
    specs = [(folder, load_spec(folder)) for folder in _detector_folders(models)]
    by_class: dict[str, list[tuple[Path, DetectorSpec]]] = {}
    for folder, spec in specs:
        by_class.setdefault(spec.class_name, []).append((folder, spec))
    if classes:
        missing = sorted(set(classes) - set(by_class))
        if missing:
            raise CacheError(models, f"holds no detector for class(es) {', '.join(missing)}; it has {', '.join(sorted(by_class))}")
        by_class = {c: by_class[c] for c in classes}
    recorded = recorded_ensembles(models) if timesteps is None else {}
    chosen = {}
    for class_name, entries in sorted(by_class.items()):
        archs = sorted({spec.architecture for _, spec in entries})
        if architecture is not None:
            if architecture not in archs:
                raise CacheError(models, f"holds no {architecture} detector for {class_name}; it has {', '.join(archs)}")
            arch = architecture
        elif DEFAULT_ARCHITECTURE in archs or len(archs) == 1:
            arch = DEFAULT_ARCHITECTURE if DEFAULT_ARCHITECTURE in archs else archs[0]
        else:
            raise CacheError(models, f"holds {', '.join(archs)} detectors for {class_name}; choose one with --architecture")
        entries = sorted((e for e in entries if e[1].architecture == arch), key=lambda e: (e[1].timesteps, str(e[0])))
        wanted = timesteps or recorded.get((arch, class_name))
        available = sorted({spec.timesteps for _, spec in entries})
        if wanted:
            missing = sorted(set(wanted) - set(available))
            if missing:
                origin = "asked for" if timesteps else "recorded in results/rows/"
                raise CacheError(models, f"holds no {arch} detector of {class_name} with timesteps {missing} ({origin}); it has {available}; choose with --timesteps")
            entries = [e for e in entries if e[1].timesteps in set(wanted)]
        elif len({(s.features, s.training) for _, s in entries}) > 1:
            raise CacheError(
                models,
                f"the {arch} detectors of {class_name} (timesteps {available}) were trained with different settings; "
                "choose the ensemble with --timesteps",
            )
        if len({s.features for _, s in entries}) > 1:
            raise CacheError(models, f"the {arch} detectors of {class_name} use different feature settings; they cannot be averaged")
        chosen[class_name] = (arch, entries)
    return chosen


def load_detectors(
    models: str | Path,
    classes: list[str] | None = None,
    *,
    architecture: str | None = None,
    timesteps: list[int] | None = None,
) -> dict[str, Ensemble]:
    """Load the ensemble of every class (or of ``classes``) from ``models``; see the module docstring."""
    from ..models.detector import load_detector

    ensembles = {}
    rows = _recorded_rows(Path(models))  # the run's row records, read once for every class
    for class_name, (arch, entries) in choose_ensembles(models, classes, architecture=architecture, timesteps=timesteps).items():
        loaded = [load_detector(folder) for folder, _ in entries]
        specs = tuple(spec for _, spec in loaded)
        post = paper_postprocess(class_name)
        choice = _choice_in(rows, arch, class_name, tuple(s.timesteps for s in specs))
        ensembles[class_name] = Ensemble(
            class_name=class_name,
            architecture=arch,
            folders=tuple(folder for folder, _ in entries),
            specs=specs,
            postprocess=post if choice is None else dataclasses.replace(post, lookback_seconds=choice[0], onset_rule=choice[1]),
            models=tuple(model for model, _ in loaded),
        )
    return ensembles


# ----------------------------------------------------------------------------------------
# Applying them
# ----------------------------------------------------------------------------------------


def file_probabilities(path: str | Path, ensembles: dict[str, Ensemble]) -> FileProbabilities:
    """Per-step probabilities of every class's ensemble on one recording (the pipeline's computation).

    Raises AudioError naming the file when it cannot be read or is shorter than one model step.
    """
    from ..audio import load_audio
    from ..features.spectrogram import logmel
    from .sliding import clip_probabilities

    path = Path(path)
    if not ensembles:
        raise CacheError(None, "no detectors to apply")
    logmels: dict[FeatureConfig, np.ndarray] = {}
    probabilities = {}
    duration = None
    for class_name, ensemble in sorted(ensembles.items()):
        fconf = ensemble.features
        if fconf not in logmels:
            y = load_audio(path, sample_rate=fconf.sample_rate)
            min_samples = (fconf.frames_per_step - 1) * fconf.hop_length
            if y.size < min_samples:
                raise AudioError(
                    path,
                    f"too short to detect events: {y.size / fconf.sample_rate:.3f} s, "
                    f"at least {min_samples / fconf.sample_rate:.3f} s (one step of {fconf.frames_per_step} frames) is needed",
                )
            logmels[fconf] = logmel(y, fconf)
            duration = y.size / fconf.sample_rate if duration is None else duration
        probabilities[class_name] = clip_probabilities(ensemble.members, logmels[fconf])
    first = ensembles[sorted(ensembles)[0]].features
    return FileProbabilities(path, float(duration), logmels[first], first, probabilities)


def decide(result: FileProbabilities, ensembles: dict[str, Ensemble], segment_seconds: float | None = None, name: str | None = None) -> list[DetectionRow]:
    """The two-threshold decision per class: one row per detected event, or one event-free row.

    ``segment_seconds`` None applies the paper's rule to the whole file (at most one event);
    otherwise each consecutive segment of that length (in whole steps) may hold one event.
    Offsets are clipped to the recording's duration.
    """
    name = str(result.path) if name is None else name
    rows = []
    for class_name, ensemble in sorted(ensembles.items()):
        probs = result.probabilities[class_name]
        step = ensemble.features.step_seconds
        span = probs.size if segment_seconds is None else max(1, int(round(segment_seconds / step)))
        common = dict(
            architecture=ensemble.architecture,
            timesteps=ensemble.timesteps,
            presence_threshold=ensemble.postprocess.presence_threshold,
            onset_threshold=ensemble.postprocess.onset_threshold,
        )
        found = []
        for start in range(0, probs.size, span):
            det = detect_event(probs[start : start + span], step, ensemble.postprocess)
            if det is not None:  # the last step may end a fraction of a frame after the recording
                offset = min(det.offset + start * step, result.duration)
                found.append(DetectionRow(name, class_name, det.onset + start * step, offset, det.peak_probability, **common))
        rows.extend(found or [DetectionRow(name, class_name, None, None, float(np.max(probs)), **common)])
    return rows


def detect_files(files: list[Path], detectors: dict[str, Ensemble], segment_seconds: float | None = None) -> list[DetectionRow]:
    """Apply each class's ensemble to each file; rows as :func:`decide` gives them, file by file."""
    rows = []
    for path in files:
        rows.extend(decide(file_probabilities(path, detectors), detectors, segment_seconds))
    return rows


def dcase_lines(rows: list[DetectionRow]) -> list[str]:
    """DCASE event-list lines: one per event, and the file alone when no class found anything in it."""
    lines, seen, with_event = [], [], set()
    for row in rows:
        if row.file not in seen:
            seen.append(row.file)
        if row.onset is not None:
            with_event.add(row.file)
    for file in seen:
        events = [r for r in rows if r.file == file and r.onset is not None]
        lines.extend(r.dcase_line() for r in sorted(events, key=lambda r: (r.onset, r.class_name)))
        if file not in with_event:
            lines.append(file)
    return lines
