"""The subsets the paper uses, and checks of what a data root holds: sources, the evaluation set, one folder per subset."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ...audio import audio_info
from ...config import MixtureConfig
from ...errors import AudioError, DataError
from ...fileio import write_text
from ..layout import (
    MIXTURE_DIR,
    MixtureSet,
    find_mixture_sets,
    format_event_list,
    read_event_list,
    read_source_split,
    source_dir,
)
from .package_list import EVALTEST

#: Seed of the paper's training set ``train`` (docs/interpretation.md).
TRAIN_SEED = 4242



@dataclass(frozen=True)
class Subset:
    """A mixture subset to synthesize: its name, the source split it draws from, its recipe."""

    name: str
    split: str
    config: MixtureConfig = MixtureConfig()


#: The subsets of the paper: validation (default devtrain), the fixed DCASE devtest, and the
#: training set "twice the size of the development set" from the devtrain sources.
DEFAULT_SUBSETS = (
    Subset("devtrain", "devtrain", MixtureConfig()),
    Subset("devtest", "devtest", MixtureConfig()),
    Subset("train", "devtrain", MixtureConfig(seed=TRAIN_SEED, mixtures_per_class=1000)),
)



def _check_subsets(subsets: Iterable[Subset]) -> list[Subset]:
    subsets = list(subsets)
    names = [s.name for s in subsets]
    if len(set(names)) != len(names):
        raise ValueError(f"subset names must differ, got {names}")
    for s in subsets:
        if not re.match(r"^[A-Za-z0-9]+$", s.name):
            raise ValueError(f"subset name must be letters and digits only, got {s.name!r}")
    return subsets



def check_sources(root: str | Path, split: str, classes: Iterable[str] | None = None) -> list[str]:
    """Check the ``cv_setup`` lists of ``split`` and the header of every file they name.

    Returns the split's classes (sorted), restricted to ``classes`` when given. Files at another
    sample rate or with several channels are accepted: both synthesizers resample and
    down-mix them on load (a documented conversion).

    Raises
    ------
    DataError or AudioError naming the file: a missing or malformed ``cv_setup`` YAML, a listed
    file that is missing, unreadable or empty, or a requested class the split lacks.
    """
    sources = read_source_split(root, split)
    wanted = _restrict(sources.classes, classes, source_dir(root) / "cv_setup" / f"events_{split}.yaml")
    paths = [bg.path for bg in sources.backgrounds] + [e.path for c in wanted for e in sources.events[c]]
    for path in paths:
        if audio_info(path).frames == 0:
            raise AudioError(path, "audio file holds no samples")
    return wanted


def _restrict(available: list[str], classes: Iterable[str] | None, where: Path) -> list[str]:
    available = sorted(available)
    if classes is None:
        return available
    classes = list(dict.fromkeys(classes))
    missing = [c for c in classes if c not in available]
    if missing:
        raise DataError(where, f"has no class {', '.join(map(repr, missing))} (classes: {', '.join(available)})")
    return [c for c in available if c in classes]


_EVAL_NAME = re.compile(r"^mixture_evaltest_(?P<cls>.+?)_\d+_[0-9a-f]+\.wav$")


def _normalise_event_lists(folder: Path) -> None:
    """Write ``event_list_evaltest_<class>.csv`` from a single ``event_list_evaltest.csv``.

    A per-class list that already holds the same events is left as it is, so shipped lists are
    never rewritten, and an interrupted run is completed by the next one.
    """
    meta = folder / "meta"
    single = meta / f"event_list_{EVALTEST}.csv"
    if not single.is_file():
        if not list(meta.glob(f"event_list_{EVALTEST}_*.csv")):
            raise DataError(meta, f"no event lists (expected event_list_{EVALTEST}_<class>.csv or event_list_{EVALTEST}.csv)")
        return
    by_class: dict[str, list] = {}
    for event in read_event_list(single):
        match = _EVAL_NAME.match(event.filename)
        cls = event.label if event.has_event else (match["cls"] if match else None)
        if cls is None:
            raise DataError(single, f"cannot tell the class of {event.filename} (no event label and not named mixture_{EVALTEST}_<class>_<n>_<hash>.wav)")
        by_class.setdefault(cls, []).append(event)
    for cls, events in sorted(by_class.items()):
        path = meta / f"event_list_{EVALTEST}_{cls}.csv"
        if not (path.is_file() and read_event_list(path) == events):
            write_text(path, format_event_list(events))


def evaluation_sets(root: str | Path, classes: Iterable[str] | None = None, *, check_audio: bool = True) -> list[MixtureSet]:
    """The pre-mixed evaluation subset ``evaltest``, checked, one set per class.

    A single ``meta/event_list_evaltest.csv`` is split into per-class lists first (layout
    normalisation). Every event list must name existing, readable audio files; audio at
    another rate or with two channels is resampled and down-mixed on load (documented).

    Raises
    ------
    DataError or AudioError naming the file: no evaltest folder or event list, an event list
    naming a missing file, unreadable audio, a requested class that is absent.
    """
    root = Path(root)
    base = root / MIXTURE_DIR / EVALTEST
    if not base.is_dir():
        raise DataError(base, "evaluation mixtures are missing; extract the evaluation archives first")
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and (p / "meta").is_dir()):
        _normalise_event_lists(folder)
    sets = find_mixture_sets(root, EVALTEST)
    present = sorted({s.class_name for s in sets})
    if not present:
        raise DataError(base, f"no event list found (expected <hash>/meta/event_list_{EVALTEST}_<class>.csv)")
    wanted = _restrict(present, classes, base)
    sets = [s for s in sets if s.class_name in wanted]
    if check_audio:
        for mset in sets:
            for event in mset.events():
                if audio_info(mset.audio_dir / event.filename).frames == 0:
                    raise AudioError(mset.audio_dir / event.filename, "audio file holds no samples")
    return sets



def _complete_classes(root: Path, subset: str, hashes: Iterable[str]) -> set[str]:
    hashes = set(hashes)
    if not (root / MIXTURE_DIR).is_dir():
        return set()
    return {s.class_name for s in find_mixture_sets(root, subset) if s.param_hash in hashes}


def _check_no_other_folder(root: Path, subset: str, allowed: Iterable[str], classes: Iterable[str]) -> None:
    """Refuse to add a second parameter folder for the same classes of a subset (ambiguous later)."""
    allowed = set(allowed)
    if not (root / MIXTURE_DIR).is_dir():
        return
    for s in find_mixture_sets(root, subset, list(classes)):
        if s.param_hash not in allowed:
            raise DataError(
                s.folder,
                f"already holds {subset!r} mixtures of class {s.class_name!r} made with other parameters or by the other synthesizer; "
                "remove that folder (or choose the synthesizer that made it) so the subset stays unambiguous",
            )
