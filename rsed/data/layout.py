"""The DCASE 2017 Task 2 on-disk layout (NOTES section 2): read and write, nothing else.

A *data root* holds ``data/source_data`` (sources and ``cv_setup`` splits) and/or
``data/mixture_data/<subset>/<param_hash>/{audio,meta}`` (mixtures with event lists).
Class names are always read from the data, never assumed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import DataError
from ..fileio import write_text

SOURCE_DIR = Path("data") / "source_data"
MIXTURE_DIR = Path("data") / "mixture_data"
SPLITS = ("devtrain", "devtest")
EVENT_LIST_RE = re.compile(r"^event_list_(?P<subset>[A-Za-z0-9]+)_(?P<cls>.+)\.csv$")


@dataclass(frozen=True)
class EventSource:
    """An isolated event recording and the annotated segment (seconds) inside it."""

    class_name: str
    path: Path
    segment: tuple[float, float]


@dataclass(frozen=True)
class BackgroundSource:
    """A background recording and its acoustic scene."""

    path: Path
    scene: str


@dataclass(frozen=True)
class SourceSplit:
    """The sources of one cross-validation split (``devtrain`` or ``devtest``)."""

    name: str
    events: dict[str, list[EventSource]]
    backgrounds: list[BackgroundSource]

    @property
    def classes(self) -> list[str]:
        return sorted(self.events)


@dataclass(frozen=True)
class MixtureEvent:
    """One line of an event list: a mixture and its event (``label`` None when it has none)."""

    filename: str
    onset: float | None = None
    offset: float | None = None
    label: str | None = None

    @property
    def has_event(self) -> bool:
        return self.label is not None


@dataclass(frozen=True)
class MixtureSet:
    """The mixtures of one class in one subset folder."""

    root: Path
    subset: str
    param_hash: str
    class_name: str

    @property
    def folder(self) -> Path:
        return mixture_folder(self.root, self.subset, self.param_hash)

    @property
    def audio_dir(self) -> Path:
        return self.folder / "audio"

    @property
    def event_list_path(self) -> Path:
        return self.folder / "meta" / f"event_list_{self.subset}_{self.class_name}.csv"

    @property
    def recipes_path(self) -> Path:
        return self.folder / "meta" / f"mixture_recipes_{self.subset}_{self.class_name}.yaml"

    def events(self) -> list[MixtureEvent]:
        """The event list, checked against the audio folder."""
        events = read_event_list(self.event_list_path)
        for event in events:
            if not (self.audio_dir / event.filename).is_file():
                raise DataError(self.event_list_path, f"names {event.filename}, which is missing from {self.audio_dir}")
        return events


def source_dir(root: str | Path) -> Path:
    return Path(root) / SOURCE_DIR


def mixture_folder(root: str | Path, subset: str, param_hash: str) -> Path:
    return Path(root) / MIXTURE_DIR / subset / param_hash


def check_root(root: str | Path) -> Path:
    """Return ``root`` as a Path, or raise a DataError saying what is missing."""
    root = Path(root)
    try:
        exists, is_dir = root.exists(), root.is_dir()
    except OSError as exc:
        raise DataError(root, f"cannot access the data root ({exc.strerror or exc})") from None
    if not exists:
        raise DataError(root, "data root does not exist (set --root or RSED_DATA)")
    if not is_dir:
        raise DataError(root, "data root is not a folder")
    return root


def _load_yaml(path: Path):
    try:
        if not path.is_file():
            raise DataError(path, "cross-validation setup file is missing")
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(path, f"not valid YAML ({exc})") from None
    except OSError as exc:
        raise DataError(path, f"cannot read the file ({exc.strerror or exc})") from None


def read_source_split(root: str | Path, split: str) -> SourceSplit:
    """Read ``cv_setup/events_<split>.yaml`` and ``bgs_<split>.yaml`` and check every file exists."""
    base = source_dir(check_root(root))
    cv = base / "cv_setup"
    events_yaml = cv / f"events_{split}.yaml"
    bgs_yaml = cv / f"bgs_{split}.yaml"
    raw_events = _load_yaml(events_yaml)
    raw_bgs = _load_yaml(bgs_yaml)
    if not isinstance(raw_events, dict) or not raw_events:
        raise DataError(events_yaml, "expected a mapping from class name to a list of events")
    events: dict[str, list[EventSource]] = {}
    for class_name, entries in raw_events.items():
        if not entries:
            raise DataError(events_yaml, f"class {class_name!r} lists no events")
        items = []
        for entry in entries:
            try:
                name = entry["audio_filename"]
                start, end = (float(v) for v in entry["segment"])
            except (KeyError, TypeError, ValueError):
                raise DataError(events_yaml, f"malformed entry for class {class_name!r}: {entry!r}") from None
            path = base / "events" / str(class_name) / name
            if not path.is_file():
                raise DataError(path, f"event file listed in {events_yaml.name} is missing")
            if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
                raise DataError(events_yaml, f"segment {entry['segment']!r} of {name} is not a valid [start, end]")
            items.append(EventSource(str(class_name), path, (start, end)))
        events[str(class_name)] = items
    if not isinstance(raw_bgs, list) or not raw_bgs:
        raise DataError(bgs_yaml, "expected a non-empty list of backgrounds")
    backgrounds = []
    for entry in raw_bgs:
        try:
            rel, scene = entry["filepath"], entry["classname"]
        except (KeyError, TypeError):
            raise DataError(bgs_yaml, f"malformed background entry: {entry!r}") from None
        path = base / "bgs" / rel
        if not path.is_file():
            raise DataError(path, f"background listed in {bgs_yaml.name} is missing")
        backgrounds.append(BackgroundSource(path, str(scene)))
    return SourceSplit(split, events, backgrounds)


#: A whole line that is really comma- or semicolon-separated (``file,onset,offset[,label]``).
_OTHER_SEPARATOR_RE = re.compile(r"^[^,;]+[,;]\s*[-+0-9.eE]+\s*[,;]\s*[-+0-9.eE]+\s*([,;].*)?$")


def _check_event_filename(path: Path, number: int, name: str) -> None:
    """Refuse a file name that cannot name a file inside the audio folder (DataError naming the line)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise DataError(path, f"line {number}: file name {name!r} holds control characters")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or any(part == ".." for part in re.split(r"[/\\]", name)):
        raise DataError(path, f"line {number}: file name {name!r} points outside the audio folder")


def read_event_list(path: str | Path, *, paths: bool = False) -> list[MixtureEvent]:
    """Parse a DCASE event list: ``filename[\\tonset\\toffset\\tlabel]`` per line.

    Tab-separated; a line without tabs is split on whitespace. Blank lines are skipped and a
    UTF-8 byte-order mark is ignored. Everything else that is not a valid line raises a
    DataError naming the file, the line and the reason: a wrong number of fields, onsets or
    offsets that are not finite numbers with ``0 <= onset < offset``, a comma-separated line,
    a file name with control characters, or (unless ``paths``) one that is absolute or holds
    ``..``. ``paths=True`` reads lists whose first field is any path, as ``rsed detect`` prints
    them (for scoring and plotting, never to open files inside a data root).
    """
    path = Path(path)
    try:
        if not path.is_file():
            raise DataError(path, "event list is missing" if not path.exists() else "event list is not a regular file")
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(path, "event list is not UTF-8 text") from None
    except OSError as exc:
        raise DataError(path, f"cannot read the event list ({exc.strerror or exc})") from None
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.strip().split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields if f.strip()]
        if not fields:
            continue
        if len(fields) == 1 and _OTHER_SEPARATOR_RE.match(fields[0]):
            raise DataError(path, f"line {number}: looks comma-separated; event lists are tab-separated, got {line!r}")
        if paths:
            if any(ord(c) < 32 or ord(c) == 127 for c in fields[0]):
                raise DataError(path, f"line {number}: file name {fields[0]!r} holds control characters")
        else:
            _check_event_filename(path, number, fields[0])
        if len(fields) == 1:
            events.append(MixtureEvent(fields[0]))
            continue
        if len(fields) != 4:
            raise DataError(path, f"line {number}: expected 'filename' or 'filename onset offset label', got {line!r}")
        try:
            onset, offset = float(fields[1]), float(fields[2])
        except ValueError:
            raise DataError(path, f"line {number}: onset and offset must be numbers, got {line!r}") from None
        if not (math.isfinite(onset) and math.isfinite(offset) and 0 <= onset < offset):
            raise DataError(path, f"line {number}: need 0 <= onset < offset, got {onset} and {offset}")
        events.append(MixtureEvent(fields[0], onset, offset, fields[3]))
    return events


def format_event_list(events: list[MixtureEvent]) -> str:
    """The DCASE event-list text for ``events`` (inverse of :func:`read_event_list`)."""
    lines = []
    for e in events:
        if e.has_event:
            lines.append(f"{e.filename}\t{e.onset:.6f}\t{e.offset:.6f}\t{e.label}")
        else:
            lines.append(e.filename)
    return "\n".join(lines) + "\n"


def write_event_list(path: str | Path, events: list[MixtureEvent]) -> None:
    """Write an event list atomically."""
    write_text(path, format_event_list(events))


def find_mixture_sets(root: str | Path, subset: str | None = None, classes: list[str] | None = None) -> list[MixtureSet]:
    """Every (subset, param hash, class) with an event list under ``root``, sorted.

    Only folders whose event list exists count: a set is complete when its event list is
    written, which is the last step of synthesis.
    """
    base = check_root(root) / MIXTURE_DIR
    found = []
    if not base.is_dir():
        return found
    for event_list in _event_lists(base):
        match = EVENT_LIST_RE.match(event_list.name)
        sub, param_hash = event_list.parents[2].name, event_list.parents[1].name
        if not match or match["subset"] != sub:
            continue
        if subset is not None and sub != subset:
            continue
        if classes is not None and match["cls"] not in classes:
            continue
        found.append(MixtureSet(Path(root), sub, param_hash, match["cls"]))
    return found


def _subfolders(folder: Path) -> list[Path]:
    """The visible subfolders of ``folder``, sorted; one that cannot be read is an error, never skipped."""
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_dir())
    except OSError as exc:
        raise DataError(folder, f"cannot list the folder ({exc.strerror or exc})") from None


def _event_lists(base: Path) -> list[Path]:
    """``base/*/*/meta/event_list_*.csv``, like ``Path.glob`` but refusing unreadable folders.

    ``Path.glob`` silently skips a folder it may not read, which would make a subset look
    missing instead of unreadable.
    """
    found = []
    for subset in _subfolders(base):
        for param in _subfolders(subset):
            if param.joinpath("meta") in _subfolders(param):
                try:
                    found.extend(p for p in (param / "meta").iterdir() if p.name.startswith("event_list_") and p.name.endswith(".csv"))
                except OSError as exc:
                    raise DataError(param / "meta", f"cannot list the folder ({exc.strerror or exc})") from None
    return sorted(found)


def mixture_set(root: str | Path, subset: str, class_name: str) -> MixtureSet:
    """The one mixture set of ``class_name`` in ``subset``; an error if none or several."""
    sets = find_mixture_sets(root, subset, [class_name])
    if not sets:
        raise DataError(Path(root) / MIXTURE_DIR / subset, f"no event list for class {class_name!r}; synthesize the {subset!r} subset first")
    if len(sets) > 1:
        hashes = ", ".join(s.param_hash for s in sets)
        raise DataError(Path(root) / MIXTURE_DIR / subset, f"several parameter folders hold class {class_name!r} ({hashes}); remove all but one")
    return sets[0]


def mixture_classes(root: str | Path, subset: str) -> list[str]:
    """Class names that have an event list in ``subset``."""
    return sorted({s.class_name for s in find_mixture_sets(root, subset)})


def read_recipes(path: str | Path) -> list[dict]:
    """The mixture recipes of one class (``meta/mixture_recipes_<subset>_<class>.yaml``), one dict per mixture.

    Works for our mixer's files and the official synthesizer's (same keys: ``mixture_audio_filename``,
    ``bg_path``, ``bg_classname``, ``event_present``, ``ebr``, ...). Raises DataError naming the file
    when it is missing, not YAML, or not a list of mappings that each name their mixture.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "mixture recipes are missing")
    try:
        recipes = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(path, f"not valid YAML ({exc})") from None
    if not isinstance(recipes, list) or not all(isinstance(r, dict) and "mixture_audio_filename" in r for r in recipes):
        raise DataError(path, "expected a list of recipes, each with a mixture_audio_filename")
    return recipes
