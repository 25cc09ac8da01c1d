"""What an analysis reads from a finished run: its row record (:class:`Run`), feature caches, probabilities, event lists, recipes."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ...config import FeatureConfig, PostprocessConfig, ScoringConfig, from_dict, paper_postprocess
from ...data.layout import MixtureEvent, mixture_set, read_event_list, read_recipes
from ...errors import CacheError, DataError


@dataclass(frozen=True)
class Run:
    """One finished row of a run folder: its experiment and its scores (``results/rows/<row>.json``)."""

    folder: Path
    experiment: dict
    scores: dict
    row: str = ""
    #: Onset look-back (s) per class as the run chose it on the validation subset (rsed/evaluation/lookback.py).
    lookbacks: dict = field(default_factory=dict)
    #: Onset rule per class as the run chose it with the look-back ('earliest' where none is recorded).
    onset_rules: dict = field(default_factory=dict)

    @property
    def features(self) -> FeatureConfig:
        return from_dict(FeatureConfig, self.experiment["features"])

    @property
    def scoring(self) -> ScoringConfig:
        return from_dict(ScoringConfig, self.experiment.get("scoring", {}))

    @property
    def architecture(self) -> str:
        return str(self.experiment["architecture"])

    @property
    def subsets(self) -> list[str]:
        """Scored subsets, the dev subset first."""
        dev = self.experiment.get("dev_subset")
        return sorted(self.scores, key=lambda s: (s != dev, s))

    def classes(self, subset: str | None = None) -> list[str]:
        return sorted(self.scores[subset or self.subsets[0]])

    def timesteps(self, class_name: str) -> tuple[int, ...]:
        """The timestep ensemble the run used for ``class_name``."""
        table = {str(c): tuple(t) for c, t in self.experiment.get("timesteps", [])}
        return tuple(table.get(class_name, self.experiment.get("default_timesteps", ())))

    def postprocess(self, class_name: str) -> PostprocessConfig:
        """The thresholds the run applied: the paper's t1 per class, t2 = 0.5, and the look-back and onset rule it chose."""
        base = dataclasses.replace(paper_postprocess(class_name), onset_rule=self.onset_rules.get(class_name, "earliest"))
        lookback = self.lookbacks.get(class_name)
        return base if lookback is None else dataclasses.replace(base, lookback_seconds=float(lookback))

    def output_stem(self, class_name: str) -> str:
        """``<class>_<architecture>_t<tau>[+t<tau>...]``: the name of its predictions and estimates."""
        return f"{class_name}_{self.architecture}_" + "+".join(f"t{t}" for t in self.timesteps(class_name))

    def predictions_path(self, subset: str, class_name: str) -> Path:
        return self.folder / "predictions" / subset / f"{self.output_stem(class_name)}.npz"

    def estimates_path(self, subset: str, class_name: str) -> Path:
        return self.folder / "estimates" / subset / f"{self.output_stem(class_name)}.csv"


#: Rows an analysis reads by default, best first; otherwise the latest finished CRNN or CNN row.
PREFERRED_ROWS = ("crnn", "crnn_demo")


def choose_row(records: list[dict], row: str | None = None) -> dict:
    """The row record to analyse: ``row`` by name, else the Table 4 CRNN, the demo CRNN, or the latest CRNN/CNN row.

    The FNN row is analysed only by name: its predictions are per frame, not per step.
    """
    by_name = {str(r.get("row")): r for r in records}
    if row is not None:
        if row not in by_name:
            raise ValueError(f"the run has no row {row!r}; it has {', '.join(by_name) or 'none'}")
        return by_name[row]
    for name in PREFERRED_ROWS:
        if name in by_name:
            return by_name[name]
    steps = [r for r in records if r.get("architecture") in ("crnn", "cnn")]
    if not steps:
        raise ValueError(f"the run has no CRNN or CNN row; it has {', '.join(by_name) or 'none'}")
    return steps[-1]


def open_run(folder: str | Path, row: str | None = None) -> Run:
    """Read one finished row of a run folder (``results/rows/<row>.json``, see :func:`choose_row`).

    A DataError names what is missing; a CacheError names an unreadable record file.
    """
    from ...records import read_row_records, row_lookbacks, row_onset_rules

    folder = Path(folder)
    rows = folder / "results" / "rows"
    if not (folder / "results" / "scores.json").is_file() or not rows.is_dir():
        raise DataError(folder, "not a finished run (no results/scores.json); run `rsed reproduce` or `make demo` first")
    try:
        record = choose_row(read_row_records(folder), row)
        experiment = record["experiment"]
        scores: dict = {}
        for class_name, per_class in record["per_class"].items():
            for subset, score in per_class["scores"].items():
                scores.setdefault(subset, {})[class_name] = score
        lookbacks, onset_rules = row_lookbacks(record), row_onset_rules(record)
        from_dict(FeatureConfig, experiment["features"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(rows, f"no usable row record ({exc})") from None
    return Run(folder, experiment, scores, str(record.get("row", "")), lookbacks, onset_rules)


# ----------------------------------------------------------------------------------------
# What a run saved about each clip
# ----------------------------------------------------------------------------------------


def feature_cache(run: Run, subset: str, class_name: str, root: str | Path | None = None) -> Path:
    """The run's HDF5 feature cache of ``subset``/``class_name`` (the data root picks it when several exist)."""
    from ...features.cache import cache_path

    if root is not None:
        path = cache_path(mixture_set(root, subset, class_name), run.features, run.folder / "features")
        if not path.is_file():
            raise CacheError(path, "the run has no feature cache of these mixtures (another data root?)")
        return path
    pattern = re.compile(rf"^features_{re.escape(subset)}_{re.escape(class_name)}_[0-9A-Za-z]+_{run.features.key()}\.h5$")
    found = sorted(p for p in (run.folder / "features").glob("features_*.h5") if pattern.match(p.name))
    if len(found) != 1:
        what = "no feature cache" if not found else f"{len(found)} feature caches"
        raise CacheError(run.folder / "features", f"{what} of {subset}/{class_name}; pass the data root to choose")
    return found[0]


def _clip_group(handle, filename: str, path: Path):
    group = handle["clips"].get(Path(filename).stem)
    if group is None:
        raise CacheError(path, f"holds no clip {filename}")
    return group


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def cache_references(cache: str | Path) -> list[MixtureEvent]:
    """The reference event list stored in a feature cache (one entry per clip, filename order)."""
    from ...features.cache import open_cache

    events = []
    with open_cache(cache) as handle:
        for name in sorted(handle["clips"]):
            attrs = handle["clips"][name].attrs
            onset = float(attrs["onset"])
            if math.isnan(onset):
                events.append(MixtureEvent(_text(attrs["filename"])))
            else:
                events.append(MixtureEvent(_text(attrs["filename"]), onset, float(attrs["offset"]), _text(attrs["label"])))
    return events


def load_logmel(run: Run, subset: str, class_name: str, filename: str, root: str | Path | None = None) -> np.ndarray:
    """A clip's log-mel spectrogram ``[frames, n_mels]`` (dB) from the run's feature cache."""
    from ...features.cache import open_cache

    cache = feature_cache(run, subset, class_name, root)
    with open_cache(cache) as handle:
        return np.asarray(_clip_group(handle, filename, cache)["logmel"][()], dtype=np.float32)


def load_probabilities(run: Run, subset: str, class_name: str) -> dict[str, np.ndarray]:
    """Every clip's per-step ensemble probabilities ``{filename: [S]}`` that the run saved."""
    path = run.predictions_path(subset, class_name)
    if not path.is_file():
        raise CacheError(path, "the run saved no predictions for this subset and class")
    with np.load(path) as data:
        return {name: np.asarray(data[name]) for name in data.files if name != "__key__"}


def load_estimates(run: Run, subset: str, class_name: str) -> list[MixtureEvent]:
    """The event list the run wrote (detected events only)."""
    return read_event_list(run.estimates_path(subset, class_name))


def references(run: Run, subset: str, class_name: str, root: str | Path | None = None) -> list[MixtureEvent]:
    """The reference list the run was scored against: the data root's event list, or the cache's copy of it."""
    if root is not None:
        return mixture_set(root, subset, class_name).events()
    return cache_references(feature_cache(run, subset, class_name))


def mixture_metadata(root: str | Path, subset: str, class_name: str) -> pd.DataFrame:
    """Scene and event-to-background ratio of every mixture, from the recipes beside its event list.

    Columns: ``file``, ``scene`` (the background's class, or its folder), ``ebr`` (dB, NaN
    without an event), ``event_length`` (s), ``background`` (path relative to the data root).
    """
    rows = []
    for recipe in read_recipes(mixture_set(root, subset, class_name).recipes_path):
        bg = str(recipe.get("bg_path", ""))
        present = bool(recipe.get("event_present", False))
        rows.append(
            {
                "file": str(recipe["mixture_audio_filename"]),
                "scene": str(recipe.get("bg_classname") or Path(bg).parent.name or "unknown"),
                "ebr": float(recipe["ebr"]) if present and "ebr" in recipe else math.nan,
                "event_length": float(recipe["event_length_seconds"]) if present and "event_length_seconds" in recipe else math.nan,
                "background": bg,
            }
        )
    return pd.DataFrame(rows, columns=["file", "scene", "ebr", "event_length", "background"])
