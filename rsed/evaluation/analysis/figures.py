"""Figures of a run: the paper's Figure 4 for one clip, the choice of a clip worth showing, onset errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...errors import DataError
from .outcomes import OUTCOMES, onset_errors
from .run_folder import Run, load_estimates, load_logmel, load_probabilities, open_run, references


def clip_figure(run: Run | str | Path, subset: str, class_name: str, filename: str, root: str | Path | None = None):
    """The paper's Figure 4 for one clip of a run: its saved probabilities, the run's thresholds,
    the reference and detected events (onset, offset), above its log-mel in Hz (a matplotlib Figure)."""
    from ..plots import figure4

    run = run if isinstance(run, Run) else open_run(run)
    probs = load_probabilities(run, subset, class_name)
    if filename not in probs:
        raise DataError(run.predictions_path(subset, class_name), f"holds no clip {filename}")
    ref = next((e for e in references(run, subset, class_name, root) if e.filename == filename), None)
    est = next((e for e in load_estimates(run, subset, class_name) if e.filename == filename and e.has_event), None)
    post = run.postprocess(class_name)
    feats = run.features
    return figure4(
        probs[filename],
        feats.step_seconds,
        load_logmel(run, subset, class_name, filename, root),
        post.presence_threshold,
        post.onset_threshold,
        ref.onset if ref is not None and ref.has_event else None,
        est.onset if est is not None else None,
        frame_seconds=feats.frame_seconds,
        label=class_name,
        title=f"{subset}/{filename}",
        reference_offset=ref.offset if ref is not None and ref.has_event else None,
        detected_offset=est.offset if est is not None else None,
        frequency_range=(feats.fmin, feats.fmax),
    )


def select_clip(outcomes: pd.DataFrame, class_name: str | None = None, file: str | None = None) -> tuple[str, str, str]:
    """``(subset, class, file)`` of one clip of ``outcomes``: ``file`` when given, else one worth showing
    (a hit if there is one, else a mislocated event, a deletion, an insertion; first by name)."""
    rows = outcomes if class_name is None else outcomes[outcomes["class"] == class_name]
    if file is not None:
        rows = rows[rows["file"] == file]
    if rows.empty:
        wanted = ", ".join(f"{k} {v!r}" for k, v in (("class", class_name), ("file", file)) if v is not None)
        raise DataError(None, f"no clip with {wanted} in these outcomes")
    rank = {name: i for i, name in enumerate(OUTCOMES)}
    best = rows.assign(_rank=rows["outcome"].map(rank)).sort_values(["_rank", "class", "file"]).iloc[0]
    return str(best["subset"]), str(best["class"]), str(best["file"])



def onset_error_figure(outcomes: pd.DataFrame, collar: float = 0.5):
    """Histogram of the onset errors of ``outcomes`` with the scoring collar (a matplotlib Figure)."""
    from ..plots import onset_error_histogram

    return onset_error_histogram(onset_errors(outcomes).to_numpy(), collar)
