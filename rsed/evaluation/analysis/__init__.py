"""Error analysis of a finished run: per-file outcomes, breakdowns by EBR and scene, worst files, Figure 4.

Pure functions over a run folder written by :func:`rsed.run.pipeline.run` (``results/scores.json``,
``estimates/``, ``predictions/``, ``features/``) and, for the event-to-background ratio and the
scene of each mixture, the data root's mixture recipes. Nothing but :func:`cross_class` loads a
model, so the notebooks start without TensorFlow.

Per-file outcomes are scored by :func:`rsed.evaluation.scoring.score_class` (sed_eval, onset only,
500 ms collar) one file at a time, so their sums are the run's scores exactly:

=================== ===================================================== ==========================
outcome             meaning                                               counts
=================== ===================================================== ==========================
hit                 reference event, estimated onset within the collar    1 true positive
deletion            reference event, nothing estimated                    1 deletion
mislocated          reference event, estimate outside the collar          1 deletion + 1 insertion
insertion           no reference event, an event estimated                1 insertion
correct rejection   no reference event, nothing estimated                 nothing
=================== ===================================================== ==========================

Modules: :mod:`.run_folder` (reading a finished run), :mod:`.outcomes` (per-file outcomes,
scores, breakdowns), :mod:`.figures` and :mod:`.crossclass` (each class's detectors on the
other classes' clips: the one part that loads models); the names below are what the notebooks
use (``from rsed.evaluation import analysis``).
"""

from .crossclass import CROSS_CLASS_COLUMNS, cross_class, cross_class_table
from .figures import clip_figure, onset_error_figure, select_clip
from .outcomes import (
    NO_EVENT,
    OUTCOME_COLUMNS,
    OUTCOMES,
    breakdown,
    check_scores,
    class_scores,
    file_outcomes,
    onset_errors,
    recorded_scores,
    run_outcomes,
    worst_files,
)
from .run_folder import (
    PREFERRED_ROWS,
    Run,
    cache_references,
    choose_row,
    feature_cache,
    load_estimates,
    load_logmel,
    load_probabilities,
    mixture_metadata,
    open_run,
    references,
)

__all__ = [
    "Run",
    "PREFERRED_ROWS",
    "choose_row",
    "open_run",
    "feature_cache",
    "cache_references",
    "load_logmel",
    "load_probabilities",
    "load_estimates",
    "references",
    "mixture_metadata",
    "OUTCOMES",
    "NO_EVENT",
    "OUTCOME_COLUMNS",
    "file_outcomes",
    "run_outcomes",
    "class_scores",
    "breakdown",
    "check_scores",
    "onset_errors",
    "worst_files",
    "recorded_scores",
    "clip_figure",
    "select_clip",
    "onset_error_figure",
    "CROSS_CLASS_COLUMNS",
    "cross_class",
    "cross_class_table",
]
