"""Detection on any recording with trained detector folders (``rsed detect`` and ``rsed.load_detector``).

:mod:`.ensembles` chooses the detectors and their decision settings, :mod:`.decisions` applies
them and decides; this module holds the rules, the Python API (:class:`Detector`, :func:`load`)
and the names ``rsed detect`` uses.

Which detectors form a class's ensemble (docs/analysis.md):

1. ``models`` is one detector folder, or a folder of detector folders (a run's ``models/``). In a
   folder of detector folders ``recipe`` picks the training recipe: by default the project's
   recommended one, :data:`RECOMMENDED_RECIPE` (``models/plus/``), when the folder holds such
   detectors, else the paper's (the detectors directly in ``models/``); ``"paper"`` the paper's;
   any other name ``models/<name>/``.
2. Per class, one architecture: ``architecture`` when given, else ``crnn`` when the class has a
   CRNN detector, else the only architecture it has (several and no CRNN: an error).
3. The members: ``timesteps`` when given; else the ensemble the detectors' own descriptions
   record (the ``decisions`` in their ``detector.json``: an ensemble whose every member is
   present and records it), preferring the one a Table 4 row chose (the row named after the
   architecture, ``crnn``, or after it and the recipe, ``crnn_plus``), then the demo row's
   (``crnn_demo``), then any other row's when only one ensemble is recorded; else every detector
   of that class and architecture, which must share their feature and training settings.

The decision settings (t1, t2, the onset look-back, the onset rule and whatever else
:class:`~rsed.config.PostprocessConfig` holds) are the ones recorded in the members'
``detector.json`` for exactly that member set, as the run chose them on its validation subset;
when none are recorded (a detector from before they were, or an ensemble nobody scored) the
paper's defaults apply (t1 per class, t2 = 0.5, look-back 3 s, onset rule 'earliest') and
:attr:`Ensemble.settings` says so. ``overrides`` replace single fields (``--t1``, ``--t2``, ``--lookback``). Nothing is
read from the run folder around the detectors: a detector folder copied anywhere gives the
same output.

Any audio libsndfile reads (WAV, FLAC, OGG, MP3 with libsndfile >= 1.1) at any rate and with any
number of channels is resampled to the detectors' rate and down-mixed by averaging the
channels; the whole file is one probability sequence, whatever its length, decided once when it
is up to one training clip long and in overlapping clip-length segments when longer
(:mod:`.decisions`).
"""

from __future__ import annotations

from pathlib import Path

from .decisions import (
    CSV_COLUMNS,
    FORMATS,
    DetectionRow,
    FileProbabilities,
    dcase_lines,
    decide,
    detect_files,
    file_probabilities,
    format_rows,
    save_probabilities,
)
from .ensembles import (
    OVERRIDE_OPTIONS,
    PAPER_RECIPE,
    RECOMMENDED_RECIPE,
    Ensemble,
    choose_ensembles,
    load_detectors,
    plan_detectors,
    recipe_folder,
    recorded_ensembles,
    with_models,
)

__all__ = [
    "CSV_COLUMNS", "FORMATS", "OVERRIDE_OPTIONS", "PAPER_RECIPE", "RECOMMENDED_RECIPE",
    "DetectionRow", "Detector", "Ensemble", "FileProbabilities",
    "choose_ensembles", "dcase_lines", "decide", "detect_files", "file_probabilities", "format_rows", "load",
    "load_detectors", "plan_detectors", "recipe_folder", "recorded_ensembles", "save_probabilities", "with_models",
]


class Detector:
    """Trained detectors ready to apply to recordings, as ``rsed detect`` applies them.

    >>> detector = rsed.load_detector("demo/run/models")          # doctest: +SKIP
    >>> rows = detector.detect("recording.wav")                    # doctest: +SKIP
    >>> probs = detector.probabilities("recording.wav").probabilities["babycry"]   # doctest: +SKIP
    """

    def __init__(self, ensembles: dict[str, Ensemble]):
        self.ensembles = ensembles

    @property
    def classes(self) -> list[str]:
        return sorted(self.ensembles)

    def probabilities(self, path: str | Path) -> FileProbabilities:
        """Every class's per-step probabilities and the log-mel of one recording."""
        return file_probabilities(path, self.ensembles)

    def detect(self, path: str | Path, *, segment_seconds: float | None = None, whole_file: bool = False) -> list[DetectionRow]:
        """The detected events of one recording (:func:`decide`), one event-free row per class that found none."""
        return decide(self.probabilities(path), self.ensembles, segment_seconds, whole_file=whole_file)

    def __repr__(self) -> str:
        return "Detector(" + "; ".join(e.describe() for _, e in sorted(self.ensembles.items())) + ")"


def load(
    models: str | Path,
    classes: list[str] | None = None,
    *,
    architecture: str | None = None,
    timesteps: list[int] | None = None,
    recipe: str | None = None,
    t1: float | None = None,
    t2: float | None = None,
    lookback: float | None = None,
) -> Detector:
    """``rsed.load_detector``: the detectors in ``models`` (a run's ``models/`` or one detector folder) as a :class:`Detector`.

    Chosen by the rules of the module docstring; ``t1``, ``t2`` and ``lookback`` (seconds)
    override the recorded decision settings.
    """
    overrides = {"presence_threshold": t1, "onset_threshold": t2, "lookback_seconds": lookback}
    return Detector(load_detectors(models, classes, architecture=architecture, timesteps=timesteps, recipe=recipe, overrides=overrides))
