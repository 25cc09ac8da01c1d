"""What a row's detectors train and validate on when it goes beyond the paper (issue 17).

The paper trains on a fixed training subset and validates on the default devtrain mixtures.
A row may instead validate on mixtures of held-out training *recordings*
(:class:`rsed.config.ValidationConfig`, :mod:`rsed.data.holdout`) and train on clips mixed on
the fly from the other recordings (:class:`rsed.config.AugmentConfig`,
:mod:`rsed.training.onthefly`). :func:`source_setup` prepares both once per row;
:func:`training_data` gives one class's training input.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..data.layout import SourceSplit, mixture_set, read_source_split
from .folder import _log
from .rows import Experiment


@dataclass(frozen=True)
class Sources:
    """A row's training recordings, the held-out ones' paths (relative to the data root), and the
    data root of each subset that does not live under the row's data root."""

    train: SourceSplit | None = None
    held_paths: frozenset = frozenset()
    roots: dict = field(default_factory=dict)

    def root_for(self, root: Path, subset: str) -> Path:
        return self.roots.get(subset, root)


#: The sources of a row of the paper: none read, every subset under the row's data root.
NO_SOURCES = Sources()


def source_setup(root: Path, out: Path, experiment: Experiment) -> tuple[Experiment, Sources]:
    """The row as it will run (validating on the held-out mixtures when asked) and its :class:`Sources`.

    Rows of the paper read no sources: ``(experiment, Sources())``.
    """
    from ..data.holdout import HELDOUT, heldout_paths, heldout_root

    if experiment.validation.source_disjoint:
        folder, train, held = heldout_root(root, out, experiment.source_split, experiment.validation)
        _log(f"validation on mixtures of {sum(len(v) for v in held.events.values())} held-out event recordings and {len(held.backgrounds)} backgrounds ({folder})")
        validating = dataclasses.replace(experiment, validation_subset=HELDOUT)
        return validating, Sources(train, frozenset(heldout_paths(held)), {HELDOUT: folder})
    if experiment.augment.mix_on_the_fly:
        return experiment, Sources(read_source_split(root, experiment.source_split))
    return experiment, NO_SOURCES


def training_data(root: Path, experiment: Experiment, class_name: str, train_cache: Path, mean, std, sources: Sources):
    """A class's training input: the training subset's cache (less the clips that use held-out
    recordings), or clips mixed on the fly from the training recordings."""
    from ..training.onthefly import ClipRecipe, OnTheFly, SourcePool
    from ..training.streaming import CachedSteps, CacheWindowSampler

    a, fps = experiment.augment, experiment.features.frames_per_step
    keep = _clips_without(root, experiment.train_subset, class_name, sources.held_paths) if sources.held_paths else None
    cached = CachedSteps(train_cache, mean, std, fps, keep)  # windows read from disk while training
    if not a.mix_on_the_fly:
        return cached
    with CacheWindowSampler(cached, 1, positive_fraction=0.0) as natural:  # the event-step share of real mixtures
        natural_rate = natural.index.natural_rate
    pool = SourcePool(sources.train, class_name, experiment.features.sample_rate)
    recipe = ClipRecipe(
        seconds=a.clip_seconds, presence=a.clip_presence, ebr_range=tuple(a.ebr_range), augment=a.chain, chain_prob=a.chain_prob, mixture_prob=a.mixture_prob
    )
    return OnTheFly(pool, experiment.features, tuple(mean), tuple(std), recipe, a.clips_per_epoch, natural_rate)


def _clips_without(root: Path, subset: str, class_name: str, held: frozenset) -> frozenset | None:
    """Stems of the clips of a training subset whose recipes use none of the ``held`` source paths
    (None, with a warning, when the recipes cannot be read: then every clip trains)."""
    import yaml

    path = mixture_set(root, subset, class_name).recipes_path
    try:
        recipes = yaml.safe_load(path.read_text(encoding="utf-8"))
        return frozenset(Path(r["mixture_audio_filename"]).stem for r in recipes if r.get("bg_path") not in held and r.get("event_path") not in held)
    except (OSError, yaml.YAMLError, TypeError, KeyError, AttributeError) as exc:
        _log(f"{path}: cannot read the mixture recipes ({exc}); training on every clip, held-out recordings included")
        return None


__all__ = ["Sources", "NO_SOURCES", "source_setup", "training_data"]
