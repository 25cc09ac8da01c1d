"""Scoring any event lists against any reference lists with the challenge's settings (``rsed score``).

Both sides are DCASE event lists (``file[\\tonset\\toffset\\tlabel]``, tab-separated): one file
each, or a folder of them (every ``*.csv`` and ``*.txt`` in it). As in the challenge, a class is
scored on the files of its own reference lists (:func:`rsed.evaluation.scoring.score_class`:
sed_eval, onset only, 500 ms collar), the files without an event included; the overall figure is
the mean of the per-class error rates and F-scores.

- The class of a reference list is the label of its events; a list without any event takes it
  from its DCASE name, ``event_list_<subset>_<class>.csv``.
- Estimated file names match the reference's exactly or by their last path component (``rsed
  detect`` prints the paths it was given; references name bare files). An estimate for a file no
  reference list holds is an error.
- An estimate of class ``c`` for a file that is in the reference but not in a list of ``c``
  (a gunshot detector's alarm on a baby-cry mixture) is not scored, as in the challenge; the
  result counts them (:attr:`ListScores.ignored`), as it counts estimates of classes no reference
  holds.
- In a folder of estimates, each class must come from one list (a run's ``estimates/devtest/``
  holds each member's list beside the ensemble's: pass the file you mean).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ScoringConfig
from ..data.layout import EVENT_LIST_RE, MixtureEvent, read_event_list
from ..errors import DataError
from .scoring import ClassScore, class_average, score_class

#: Extensions of the event lists read from a folder.
LIST_SUFFIXES = (".csv", ".txt")


@dataclass(frozen=True)
class ListScores:
    """Per-class scores (``classes[c]``), their class average (ER, F1) and the estimates not scored (``ignored[c]``)."""

    classes: dict[str, ClassScore]
    settings: ScoringConfig = ScoringConfig()
    ignored: dict[str, int] = field(default_factory=dict)

    @property
    def average(self) -> tuple[float, float]:
        return class_average(list(self.classes.values()))

    def to_json(self) -> dict:
        er, f1 = self.average
        return {
            "classes": {c: dataclasses.asdict(s) for c, s in sorted(self.classes.items())},
            "class_average": {"error_rate": er, "f_measure": f1},
            "ignored": dict(sorted(self.ignored.items())),
            "settings": dataclasses.asdict(self.settings),
        }

    def to_text(self) -> str:
        def percent(value: float) -> str:  # F1 is NaN (as sed_eval gives it) without any estimate
            return f"{100 * value:>7.1f}%" if math.isfinite(value) else f"{'-':>8}"

        lines = [f"{'class':<14}{'ER':>7}{'F1':>8}{'ref':>6}{'subs':>6}{'del':>6}{'ins':>6}{'files':>7}"]
        for c, s in sorted(self.classes.items()):
            lines.append(f"{c:<14}{s.error_rate:>7.3f}{percent(s.f_measure)}{s.n_reference:>6}{s.substitutions:>6}{s.deletions:>6}{s.insertions:>6}{s.n_files:>7}")
        er, f1 = self.average
        lines.append(f"{'class average':<14}{er:>7.3f}{percent(f1)}")
        for c, n in sorted(self.ignored.items()):
            where = "files of other classes' lists" if c in self.classes else "a class no reference list holds"
            lines.append(f"not scored: {n} {c} estimate(s) for {where}")
        cfg = self.settings
        what = "onset and offset" if cfg.evaluate_offset else "onset only"
        lines.append(f"(sed_eval event-based, {what}, collar {cfg.t_collar:g} s: the DCASE 2017 Task 2 settings)")
        return "\n".join(lines) + "\n"


def read_lists(path: str | Path) -> list[tuple[Path, list[MixtureEvent]]]:
    """``[(list file, its events), ...]`` of one event list or of every list in a folder (sorted by name)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in LIST_SUFFIXES)
        if not files:
            raise DataError(path, f"holds no event list ({', '.join('*' + s for s in LIST_SUFFIXES)})")
    elif path.exists():
        files = [path]
    else:
        raise DataError(path, "event list not found")
    return [(f, read_event_list(f, paths=True)) for f in files]


def _list_classes(path: Path, events: list[MixtureEvent]) -> set[str]:
    labels = {e.label for e in events if e.has_event}
    if labels:
        return labels
    match = EVENT_LIST_RE.match(path.name)
    if match is None:
        raise DataError(path, "holds no event, so its class is unknown; name it event_list_<subset>_<class>.csv")
    return {match["cls"]}


def _matcher(names: set[str]):
    """``name -> reference name``: exact, else by the last path component when that is unambiguous."""
    by_base: dict[str, set[str]] = {}
    for name in names:
        by_base.setdefault(Path(name).name, set()).add(name)

    def match(name: str) -> str | None:
        if name in names:
            return name
        found = by_base.get(Path(name).name, set())
        return next(iter(found)) if len(found) == 1 else None

    return match


def score_lists(estimates: str | Path, reference: str | Path, config: ScoringConfig = ScoringConfig()) -> ListScores:
    """Score the estimated event lists against the reference lists (module docstring); DataError naming the file at fault."""
    class_files: dict[str, dict[str, list[MixtureEvent]]] = {}
    for path, events in read_lists(reference):
        for class_name in _list_classes(path, events):
            files = class_files.setdefault(class_name, {})
            for e in events:
                files.setdefault(e.filename, [])
                if e.has_event and e.label == class_name:
                    files[e.filename].append(e)
    match = _matcher({name for files in class_files.values() for name in files})
    sources: dict[str, Path] = {}
    estimated: dict[str, list[MixtureEvent]] = {}
    ignored: dict[str, int] = {}
    for path, events in read_lists(estimates):
        unknown = sorted({e.filename for e in events if match(e.filename) is None})
        if unknown:
            raise DataError(path, f"names files that are in no reference list: {', '.join(unknown[:3])}{' ...' if len(unknown) > 3 else ''}")
        for label in sorted({e.label for e in events if e.has_event}):
            if label in sources and sources[label] != path:
                raise DataError(path, f"class {label} is also estimated in {sources[label].name}; pass one list per class")
            sources[label] = path
        for e in events:
            if not e.has_event:
                continue
            name = match(e.filename)
            if e.label in class_files and name in class_files[e.label]:
                estimated.setdefault(e.label, []).append(dataclasses.replace(e, filename=name))
            else:
                ignored[e.label] = ignored.get(e.label, 0) + 1
    scores = {}
    for class_name, files in sorted(class_files.items()):
        refs = [ev for name, evs in files.items() for ev in (evs or [MixtureEvent(name)])]
        scores[class_name] = score_class(class_name, refs, estimated.get(class_name, []), config)
    return ListScores(scores, config, ignored)
