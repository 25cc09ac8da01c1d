"""Source-disjoint validation: hold out part of the training recordings and validate on mixtures of them.

The paper validates on the default devtrain mixtures, made from the same event recordings as
its training set, so early stopping and the post-processing choices reward memorising those
recordings (issue 17: validation ER 0.10-0.23 against 0.86-1.02 on real unseen recordings).
:func:`split_sources` holds out a fraction of each class's event recordings and of the
backgrounds; :func:`heldout_root` writes a small data root whose ``cv_setup`` lists only them
(the audio is reached through symbolic links to the real source folders), so the ordinary mixer
(:func:`rsed.data.mixing.synthesize`) makes validation mixtures by the official recipe.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import yaml

from ..config import MixtureConfig, ValidationConfig, config_hash
from ..fileio import write_yaml
from .layout import SOURCE_DIR, SourceSplit, read_source_split

#: Name of the held-out source split and of the validation subset made from it.
HELDOUT = "heldout"


def _held_indices(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of the held-out items: round(n * fraction), at least one, leaving at least one (none when n < 2)."""
    k = int(round(n * fraction))
    k = min(max(k, 1), n - 1) if n >= 2 else 0
    return np.sort(rng.permutation(n)[:k])


def split_sources(split: SourceSplit, config: ValidationConfig) -> tuple[SourceSplit, SourceSplit]:
    """``(training sources, held-out sources)`` of a split, deterministic in ``config.seed``.

    Each class's events and the backgrounds are split separately (a class or background list of one
    item keeps it for training).
    """
    rng = np.random.default_rng([int(config.seed), 1701])
    train_events, held_events = {}, {}
    for class_name in split.classes:
        events = split.events[class_name]
        held = set(_held_indices(len(events), config.holdout_fraction, rng).tolist())
        train_events[class_name] = [e for i, e in enumerate(events) if i not in held]
        held_events[class_name] = [e for i, e in enumerate(events) if i in held]
    held_bgs = set(_held_indices(len(split.backgrounds), config.holdout_fraction, rng).tolist())
    train = SourceSplit(split.name, train_events, [b for i, b in enumerate(split.backgrounds) if i not in held_bgs])
    held = SourceSplit(HELDOUT, held_events, [b for i, b in enumerate(split.backgrounds) if i in held_bgs])
    return train, held


def heldout_paths(split: SourceSplit) -> set[str]:
    """POSIX paths (relative to the data root, as mixture recipes name them) of every source in ``split``."""
    from .mixing import relative_to_root

    paths = {relative_to_root(b.path) for b in split.backgrounds}
    for events in split.events.values():
        paths.update(relative_to_root(e.path) for e in events)
    return paths


def heldout_root(root: str | Path, out: str | Path, source_split: str, config: ValidationConfig) -> tuple[Path, SourceSplit, SourceSplit]:
    """Make (or reuse) ``out/heldout/<key>``: a data root holding the held-out sources of ``source_split``
    and ``mixtures_per_class`` validation mixtures per class in subset ``heldout``; returns it with the
    training and held-out source splits."""
    from .mixing import synthesize

    root = Path(root)
    split = read_source_split(root, source_split)
    train, held = split_sources(split, config)
    key = config_hash([str(root.resolve()), source_split, dataclasses.asdict(config), sorted(heldout_paths(held))])
    folder = Path(out) / HELDOUT / key
    base = folder / SOURCE_DIR
    base.mkdir(parents=True, exist_ok=True)
    for name in ("bgs", "events"):
        link = base / name
        target = (root / SOURCE_DIR / name).resolve()
        if link.is_symlink() and Path(link.readlink()) != target:
            link.unlink()
        if not link.exists():
            link.symlink_to(target, target_is_directory=True)
    src = root / SOURCE_DIR
    events_yaml = {c: [{"audio_filename": e.path.name, "segment": [float(e.segment[0]), float(e.segment[1])]} for e in held.events[c]] for c in held.classes}
    bgs_yaml = [{"filepath": b.path.relative_to(src / "bgs").as_posix(), "classname": b.scene} for b in held.backgrounds]
    for name, content in ((f"events_{HELDOUT}.yaml", events_yaml), (f"bgs_{HELDOUT}.yaml", bgs_yaml)):
        path = base / "cv_setup" / name
        if not path.is_file() or yaml.safe_load(path.read_text(encoding="utf-8")) != content:
            write_yaml(path, content)
    mixtures = MixtureConfig(seed=int(config.seed), mixtures_per_class=int(config.mixtures_per_class))
    synthesize(folder, HELDOUT, HELDOUT, mixtures, progress=False, workers=1)
    return folder, train, held


__all__ = ["HELDOUT", "split_sources", "heldout_paths", "heldout_root"]
