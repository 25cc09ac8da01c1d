"""Which trained detectors form each class's ensemble, and the decision settings it uses.

The rules are those of :mod:`rsed.inference.detect` (its docstring). Everything here reads
``detector.json`` files only, so a command can check its detectors before TensorFlow is
imported; :func:`with_models` loads the Keras models.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config import FeatureConfig, MixtureConfig, PostprocessConfig, paper_postprocess
from ..errors import CacheError
from ..models.detector import DetectorSpec, ensemble_key, is_complete, load_spec

#: Architecture used when a class has detectors of several architectures and none is asked for.
DEFAULT_ARCHITECTURE = "crnn"
#: The recipe ``rsed detect`` uses by default when a models folder holds its detectors (``models/plus/``).
RECOMMENDED_RECIPE = "plus"
#: The name of the paper's recipe on the command line (its detectors sit directly in ``models/``).
PAPER_RECIPE = "paper"
#: Segment length for detectors that do not record their training clips' length (format 1): the DCASE clip.
DEFAULT_CLIP_SECONDS = MixtureConfig().length_seconds


@dataclass(frozen=True)
class Ensemble:
    """The detectors of one class whose per-step probabilities are averaged (Table 2), and how it decides.

    ``settings`` says where ``postprocess`` comes from: ``recorded`` (the members'
    detector.json), ``paper defaults`` (nothing recorded for this member set), each followed
    by ``+ --t1`` etc. for the fields ``overrides`` replaced.
    """

    class_name: str
    architecture: str
    folders: tuple[Path, ...]
    specs: tuple[DetectorSpec, ...]
    postprocess: PostprocessConfig
    settings: str = "recorded"
    models: tuple = field(default=(), compare=False, repr=False)

    @property
    def timesteps(self) -> tuple[int, ...]:
        return tuple(s.timesteps for s in self.specs)

    @property
    def key(self) -> str:
        """The ensemble's name by its members (``t3+t5``), as detector.json records decisions."""
        return ensemble_key(self.timesteps)

    @property
    def features(self) -> FeatureConfig:
        return self.specs[0].features

    @property
    def recipe(self) -> str:
        return self.specs[0].recipe

    @property
    def clip_seconds(self) -> float:
        """Length of the members' training clips (s), the default segment length; 30 s when not recorded."""
        recorded = [s.clip_seconds for s in self.specs if s.clip_seconds]
        return max(recorded) if recorded else DEFAULT_CLIP_SECONDS

    @property
    def members(self) -> list[tuple]:
        """``[(keras model, spec), ...]`` as :func:`rsed.inference.sliding.clip_probabilities` takes them."""
        return list(zip(self.models, self.specs, strict=True))

    def describe(self) -> str:
        taus = "+".join(f"t{t}" for t in self.timesteps)
        post = self.postprocess
        return (
            f"{self.class_name}: {self.architecture} {taus} (t1 {post.presence_threshold:g}, t2 {post.onset_threshold:g}, "
            f"look-back {post.lookback_seconds:g} s; {self.settings})"
        )



def _complete_children(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and is_complete(p)) if folder.is_dir() else []


def recipe_folder(models: str | Path, recipe: str | None = None) -> Path:
    """The folder whose detector folders a recipe's detectors are (rule 1 of the module docstring)."""
    models = Path(models)
    if not models.is_dir():
        raise CacheError(models, "models folder not found" if not models.exists() else "not a folder")
    if is_complete(models):
        return models
    if recipe is None:
        recommended = models / RECOMMENDED_RECIPE
        return recommended if _complete_children(recommended) else models
    if recipe in (PAPER_RECIPE, ""):
        return models
    chosen = models / recipe
    if not _complete_children(chosen):
        available = ([PAPER_RECIPE] if _complete_children(models) else []) + [
            p.name for p in sorted(models.iterdir()) if p.is_dir() and any(load_spec(f).recipe == p.name for f in _complete_children(p))
        ]
        raise CacheError(models, f"holds no detectors of recipe {recipe!r}; it has {', '.join(available) or 'none'}")
    return chosen


def _detector_folders(models: Path, recipe: str | None = None) -> list[Path]:
    folder = recipe_folder(models, recipe)
    if is_complete(folder):
        return [folder]
    folders = _complete_children(folder)
    if not folders:
        raise CacheError(folder, "holds no trained detector (expected folders with model.keras and detector.json)")
    return folders


def _row_tier(row: str, architecture: str, recipe: str) -> int:
    """0 for a Table 4 row of the architecture (or of it and the recipe), 1 for its demo row, 2 for any other."""
    if row == architecture or (recipe and row == f"{architecture}_{recipe}"):
        return 0
    return 1 if row == f"{architecture}_demo" else 2


def _parse_key(key: str) -> tuple[int, ...] | None:
    if not re.fullmatch(r"t\d+(\+t\d+)*", key):
        return None
    return tuple(sorted(int(part[1:]) for part in key.split("+")))


def recorded_ensembles(entries: list[tuple[Path, DetectorSpec]]) -> dict[tuple[str, str], tuple[int, ...]]:
    """``{(architecture, class): timesteps}`` of the ensembles the detectors' descriptions record (rule 3).

    An ensemble counts when a detector of each of its timesteps is among ``entries`` and every
    such detector records it; of several, the best tier of the rows that chose them wins
    (:func:`_row_tier`), and a tier holding more than one ensemble decides nothing.
    """
    groups: dict[tuple[str, str], list[DetectorSpec]] = {}
    for _, spec in entries:
        groups.setdefault((spec.architecture, spec.class_name), []).append(spec)
    found = {}
    for (arch, class_name), specs in groups.items():
        by_tau: dict[int, list[DetectorSpec]] = {}
        for spec in specs:
            by_tau.setdefault(spec.timesteps, []).append(spec)
        tiers: dict[int, set[tuple[int, ...]]] = {}
        for key in sorted({k for spec in specs for k, _ in spec.decisions}):
            taus = _parse_key(key)
            if taus is None or not all(t in by_tau for t in taus):
                continue
            decisions = [spec.decision(key) for t in taus for spec in by_tau[t]]
            if any(d is None for d in decisions):
                continue
            rows = {row for d in decisions for row in d.rows}
            tier = min((_row_tier(row, arch, specs[0].recipe) for row in rows), default=2)
            tiers.setdefault(tier, set()).add(taus)
        if tiers:
            best = tiers[min(tiers)]
            if len(best) == 1:
                found[arch, class_name] = next(iter(best))
    return found


def choose_ensembles(
    models: str | Path,
    classes: list[str] | None = None,
    *,
    architecture: str | None = None,
    timesteps: list[int] | None = None,
    recipe: str | None = None,
) -> dict[str, tuple[str, list[tuple[Path, DetectorSpec]]]]:
    """``{class: (architecture, [(folder, spec), ...])}`` by the rules of the module docstring; no model is loaded."""
    models = Path(models)
    specs = [(folder, load_spec(folder)) for folder in _detector_folders(models, recipe)]
    by_class: dict[str, list[tuple[Path, DetectorSpec]]] = {}
    for folder, spec in specs:
        by_class.setdefault(spec.class_name, []).append((folder, spec))
    if classes:
        missing = sorted(set(classes) - set(by_class))
        if missing:
            raise CacheError(models, f"holds no detector for class(es) {', '.join(missing)}; it has {', '.join(sorted(by_class))}")
        by_class = {c: by_class[c] for c in classes}
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
        wanted = timesteps or recorded_ensembles(entries).get((arch, class_name))
        available = sorted({spec.timesteps for _, spec in entries})
        if wanted:
            missing = sorted(set(wanted) - set(available))
            if missing:
                raise CacheError(models, f"holds no {arch} detector of {class_name} with timesteps {missing} (asked for); it has {available}; choose with --timesteps")
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


#: Command-line names of the PostprocessConfig fields that ``overrides`` may replace.
OVERRIDE_OPTIONS = {"presence_threshold": "--t1", "onset_threshold": "--t2", "lookback_seconds": "--lookback"}


def ensemble_settings(class_name: str, specs: list[DetectorSpec], overrides: dict | None = None) -> tuple[PostprocessConfig, str]:
    """The decision settings of an ensemble of ``specs`` and where they come from (module docstring).

    ``overrides`` maps PostprocessConfig field names to values (None: keep); a CacheError when
    the members record different settings for the same ensemble.
    """
    key = ensemble_key(s.timesteps for s in specs)
    recorded = [s.decision(key) for s in specs]
    if all(d is not None for d in recorded) and recorded:
        posts = {d.postprocess for d in recorded}
        if len(posts) > 1:
            raise CacheError(None, f"the {class_name} detectors {key} record different decision settings for their ensemble; retrain or pass --t1/--t2/--lookback")
        post, source = posts.pop(), "recorded"
    else:
        post, source = paper_postprocess(class_name), "paper defaults"
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    if changes:
        post = dataclasses.replace(post, **changes)
        source += " + " + " ".join(OVERRIDE_OPTIONS.get(k, k) for k in changes)
    return post, source


def plan_detectors(models: str | Path, classes: list[str] | None = None, *, overrides: dict | None = None, **selection) -> dict[str, Ensemble]:
    """Every class's ensemble with its decision settings, from the detectors' descriptions alone (no model loaded).

    ``selection``: the keywords of :func:`choose_ensembles` (``architecture``, ``timesteps``,
    ``recipe``); ``overrides`` as :func:`ensemble_settings` takes them.
    """
    ensembles = {}
    for class_name, (arch, entries) in choose_ensembles(models, classes, **selection).items():
        specs = [spec for _, spec in entries]
        post, source = ensemble_settings(class_name, specs, overrides)
        ensembles[class_name] = Ensemble(class_name, arch, tuple(f for f, _ in entries), tuple(specs), post, source)
    return ensembles


def with_models(ensembles: dict[str, Ensemble]) -> dict[str, Ensemble]:
    """The ensembles with their Keras models loaded (imports TensorFlow)."""
    from ..models.detector import load_detector

    loaded = {}
    for class_name, ensemble in ensembles.items():
        models = tuple(load_detector(folder)[0] for folder in ensemble.folders)
        loaded[class_name] = dataclasses.replace(ensemble, models=models)
    return loaded


def load_detectors(models: str | Path, classes: list[str] | None = None, **options) -> dict[str, Ensemble]:
    """Load the ensemble of every class (or of ``classes``) from ``models`` (the keywords of :func:`plan_detectors`); see the module docstring."""
    return with_models(plan_detectors(models, classes, **options))
