"""Cross-class false alarms: each class's detectors run on the other classes' clips.

The challenge scores a class on its own mixtures only, so a gunshot detector that fires on baby
cries costs nothing in Tables 2-4, yet it is what a user of ``rsed detect`` meets on real audio.
:func:`cross_class` applies each class's ensemble, chosen and deciding exactly as ``rsed detect``
does (the detector folders' own settings, rsed/inference/detect.py), to every clip of every other
class's feature cache in the run (the log-mel the run computed, so no audio is needed) and
counts the detections: each one is a false alarm, since those mixtures hold no event of the
detector's class. Unlike the rest of the analysis it loads the models (TensorFlow).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import DataError
from .run_folder import Run, feature_cache, open_run

CROSS_CLASS_COLUMNS = ["detector", "clips_of", "clips", "false_alarms", "alarms_per_clip", "clips_with_alarm"]


def cross_class(run: Run | str | Path, subset: str | None = None, classes: list[str] | None = None, root: str | Path | None = None) -> pd.DataFrame:
    """One row per (detector class, class of the clips), the two different: the clips, the detections
    on them (false alarms), alarms per clip and the clips with at least one.

    ``subset`` defaults to the run's dev subset, ``classes`` to the classes it scored there;
    ``root`` picks the feature cache when the run holds several of a subset and class. Empty
    (with its columns) when fewer than two classes have detectors and caches.
    """
    from ...features.cache import read_cache
    from ...inference.decisions import class_detections
    from ...inference.detect import load_detectors
    from ...inference.sliding import clip_probabilities

    run = run if isinstance(run, Run) else open_run(run)
    subset = subset or run.subsets[0]
    classes = list(classes or run.classes(subset))
    recipe = str(run.experiment.get("recipe") or "paper")
    rows = []
    if len(classes) < 2:
        return pd.DataFrame(rows, columns=CROSS_CLASS_COLUMNS)
    caches = {c: feature_cache(run, subset, c, root) for c in classes}
    ensembles = load_detectors(run.folder / "models", classes, architecture=run.architecture, recipe=recipe)
    for detector, ensemble in sorted(ensembles.items()):
        if ensemble.features != run.features:
            raise DataError(ensemble.folders[0], f"the {detector} detectors use other features than the run's caches")
        for clips_of in classes:
            if clips_of == detector:
                continue
            counts = []
            for clip in read_cache(caches[clips_of]):
                found, _ = class_detections(clip_probabilities(ensemble.members, clip.logmel), ensemble)
                counts.append(len(found))
            counts = np.asarray(counts, dtype=int)
            rows.append(
                {
                    "detector": detector,
                    "clips_of": clips_of,
                    "clips": int(counts.size),
                    "false_alarms": int(counts.sum()),
                    "alarms_per_clip": float(counts.mean()) if counts.size else float("nan"),
                    "clips_with_alarm": int(np.count_nonzero(counts)),
                }
            )
    return pd.DataFrame(rows, columns=CROSS_CLASS_COLUMNS)


def cross_class_table(table: pd.DataFrame) -> pd.DataFrame:
    """False alarms per clip as a matrix: a row per detector class, a column per class of the clips (NaN on the diagonal)."""
    if table.empty:
        return pd.DataFrame()
    return table.pivot(index="detector", columns="clips_of", values="alarms_per_clip")
