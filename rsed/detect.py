"""Detection on any recording with trained detector folders (the ``rsed detect`` command)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import paper_postprocess
from .detector import is_complete, load_detector
from .errors import CacheError
from .postprocessing import detect_event


@dataclass(frozen=True)
class DetectionRow:
    """The outcome for one file and class: an event (onset/offset in seconds) or none."""

    file: str
    class_name: str
    onset: float | None
    offset: float | None
    peak_probability: float

    def dcase_line(self) -> str:
        """``file\\tonset\\toffset\\tlabel``, or the file alone when nothing was detected."""
        if self.onset is None:
            return self.file
        return f"{self.file}\t{self.onset:.3f}\t{self.offset:.3f}\t{self.class_name}"

    def to_json(self) -> dict:
        return {"file": self.file, "event_label": self.class_name if self.onset is not None else None,
                "onset": self.onset, "offset": self.offset, "class": self.class_name,
                "peak_probability": round(self.peak_probability, 4)}


def load_detectors(models: Path, classes: list[str] | None = None) -> dict[str, list]:
    """Every complete detector folder under ``models`` (or ``models`` itself), grouped by class."""
    folders = [models] if is_complete(models) else sorted(p for p in Path(models).glob("*") if is_complete(p))
    if not folders:
        raise CacheError(models, "holds no trained detector (expected folders with model.keras and detector.json)")
    grouped: dict[str, list] = {}
    for folder in folders:
        model, spec = load_detector(folder)
        if classes and spec.class_name not in classes:
            continue
        grouped.setdefault(spec.class_name, []).append((model, spec))
    if not grouped:
        raise CacheError(models, f"holds no detector for class(es) {', '.join(classes or [])}")
    return grouped


def detect_files(files: list[Path], detectors: dict[str, list]) -> list[DetectionRow]:
    """Apply each class's timestep ensemble to each file; one row per (file, class)."""
    from .features import extract_file
    from .inference import clip_probabilities

    rows = []
    for path in files:
        logmel_by_config = {}
        for class_name, members in sorted(detectors.items()):
            fconf = members[0][1].features
            if fconf not in logmel_by_config:
                logmel_by_config[fconf] = extract_file(path, fconf)
            probs = clip_probabilities(members, logmel_by_config[fconf])
            det = detect_event(probs, fconf.step_seconds, paper_postprocess(class_name))
            rows.append(DetectionRow(str(path), class_name, None if det is None else det.onset,
                                     None if det is None else det.offset, float(np.max(probs))))
    return rows
