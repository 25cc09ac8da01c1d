"""TUT Rare Sound Events 2017 (DCASE 2017 Task 2): from nothing to every subset the paper uses.

:func:`prepare` runs the whole path on a data root (``rsed data dcase2017 --root DIR``):

1. **Package lists** (:func:`packages`) come from dcase_util's
   ``TUTRareSoundEvents_2017_DevelopmentSet`` / ``..._EvaluationSet``: archive names, Zenodo
   addresses, sizes and md5 sums. ``base_url`` points them at a mirror (the published md5 sums
   still apply); ``checksums`` replaces the sums (the tests' fixture archives).
2. **Free disk space** is checked first, for everything still to do (:func:`needed_bytes`).
3. **Download** (:func:`download`): our own resumable HTTP client (``Range`` requests into
   ``<archive>.part``, retries, md5 check, tqdm bar on a terminal). dcase_util's
   ``RemoteFile.download`` restarts from zero, turns off TLS verification for the whole
   process after any ``IOError`` and leaves no resumable state, so it is not used (see
   ``docs/dcase2017.md``).
4. **Extraction** (:func:`extract`, :mod:`rsed.data.archives`): members are checked before
   anything is written (no ``..``, absolute paths or links), files are renamed into place and a
   completion marker per archive is written last. The first folder of each zip is dropped as
   dcase_util does, so the layout is dcase_util's ``local_path`` layout, both sets in one root.
5. **Synthesis** of ``devtrain`` and ``devtest`` (official default parameters) and of the
   paper's training set ``train`` (1000 mixtures per class from the devtrain sources, seed
   4242), either by the official synthesizer run through dcase_util (:func:`synthesize_official`,
   ``synthesizer="dcase_util"``) or by our mixer (:func:`rsed.data.mixing.synthesize`,
   ``synthesizer="rsed"``).
6. **The evaluation set** is used as shipped (pre-mixed, ``evaltest/<hash>``); its event lists
   are checked against the audio (:func:`evaluation_sets`).

Both synthesizers leave ``data/mixture_data/<subset>/<param_hash>/{audio,meta}`` with the event
list ``meta/event_list_<subset>_<class>.csv`` written last, so later stages cannot tell who
made a subset. Class names always come from the data (``cv_setup`` and the event lists).

Notes
-----
The official synthesizer (``TUT_Rare_sound_events_mixture_synthesizer/core.py`` from the code
zip) meets four problems on current Python libraries; each is handled by the narrowest shim
we found, active only while the synthesizer runs (:func:`official_synthesizer`):

- ``from IPython import embed`` at the top: while ``core`` is imported, ``IPython`` resolves to a
  stub whose ``embed`` raises (unless IPython is imported already); nothing else sees the stub.
- ``yaml.load(stream)`` without a Loader (a ``TypeError`` on PyYAML 6) and ``yaml.dump`` whose
  default flow style changed in PyYAML 5.1 (which changes the parameter hash, i.e. the folder
  name, and the hash in every mixture file name): the module's own ``yaml`` name is rebound to
  :data:`LEGACY_YAML`, which loads with a safe loader and dumps with the pre-5.1 defaults. The
  global ``yaml`` module is not touched. dcase_util's parameter hash gets the same treatment
  (:func:`official_param_hash`), so the default folder is the published
  ``20b255387a2d0cddc0a3dff5014875e7``; a folder with the PyYAML >= 5.1 name is recognised too.
- ``numpy.asscalar`` (removed in numpy 1.23) is reached by dcase_util's ``DictContainer.save``
  only for numpy scalars: every parameter handed to dcase_util is a plain Python number.
- The module keeps its class list in the global ``classnames``; it is set from the data for
  each call, and ``do_mixing`` is called without ``dcase_compatibility_mode`` when the module
  does not accept it.

The official synthesizer seeds one RNG per subset and draws class after class, so a class's
recipes depend on the classes before it: recipes are always generated for every class of the
split (sorted, the official order), and only the requested classes are mixed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import importlib.util
import inspect
import itertools
import json
import os
import re
import shutil
import socket
import sys
import time
import types
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np
import yaml

from .. import __version__
from ..audio import audio_info
from ..config import DCASE2017_CLASSES, MixtureConfig
from ..errors import AudioError, DataError
from ..fileio import write_json, write_text, write_yaml
from . import archives
from .layout import (
    MIXTURE_DIR,
    MixtureSet,
    find_mixture_sets,
    format_event_list,
    mixture_folder,
    read_event_list,
    read_source_split,
    source_dir,
)

DEVELOPMENT = "development"
EVALUATION = "evaluation"
SETS = (DEVELOPMENT, EVALUATION)
SYNTHESIZERS = ("auto", "dcase_util", "rsed")

#: The published parameter hash (folder name) of the default devtrain and devtest mixtures.
OFFICIAL_DEFAULT_HASH = "20b255387a2d0cddc0a3dff5014875e7"
#: The folder of the pre-mixed evaluation mixtures (dcase_util's ``audio_paths``).
EVALTEST_HASH = "bbb81504db15a03680a0044474633b67"
EVALTEST = "evaltest"
#: Folder of the official synthesizer (from the code zip) under the data root.
CODE_DIR = "TUT_Rare_sound_events_mixture_synthesizer"
#: rsed's own state under the data root: verified checksums, extraction markers, staging.
STATE_DIR = ".rsed"
#: Anti-clipping factor dcase_util passes to the official ``do_mixing``.
OFFICIAL_ANTI_CLIPPING = 0.2
#: Seed of the paper's training set ``train`` (docs/interpretation.md).
TRAIN_SEED = 4242

_DOC_SUFFIX = ".doc.zip"
_CHUNK = 1 << 20


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


@dataclass(frozen=True)
class Package:
    """One file of a published set (an entry of dcase_util's package list)."""

    set_name: str
    filename: str
    url: str
    md5: str | None
    size: int | None
    content_types: tuple[str, ...]

    @property
    def is_zip(self) -> bool:
        return self.filename.lower().endswith(".zip")


# --------------------------------------------------------------------------------------------
# Package lists


def _dataset_class(set_name: str):
    from dcase_util.datasets import TUTRareSoundEvents_2017_DevelopmentSet, TUTRareSoundEvents_2017_EvaluationSet

    classes = {DEVELOPMENT: TUTRareSoundEvents_2017_DevelopmentSet, EVALUATION: TUTRareSoundEvents_2017_EvaluationSet}
    if set_name not in classes:
        raise ValueError(f"unknown set {set_name!r}; choose from {', '.join(SETS)}")
    return classes[set_name]


def _check_subsets(subsets: Iterable[Subset]) -> list[Subset]:
    subsets = list(subsets)
    names = [s.name for s in subsets]
    if len(set(names)) != len(names):
        raise ValueError(f"subset names must differ, got {names}")
    for s in subsets:
        if not re.match(r"^[A-Za-z0-9]+$", s.name):
            raise ValueError(f"subset name must be letters and digits only, got {s.name!r}")
    return subsets


def _check_sets(sets: Iterable[str]) -> tuple[str, ...]:
    sets = tuple(dict.fromkeys(sets))
    for s in sets:
        if s not in SETS:
            raise ValueError(f"unknown set {s!r}; choose from {', '.join(SETS)}")
    return sets


@functools.lru_cache(maxsize=None)
def _package_items(set_name: str) -> tuple[tuple, ...]:
    """dcase_util's package list of ``set_name``: (filename, url, md5, bytes, content types) per file."""
    import tempfile

    cls = _dataset_class(set_name)
    # The constructor only reads; local_path is never created.
    dataset = cls(local_path=os.path.join(tempfile.gettempdir(), "rsed-package-list"), show_progress_in_console=False, log_system_progress=False)
    items = []
    for item in dataset.package_list:
        url = item.get("remote_file")
        if not url:
            continue
        content = item.get("content_type") or ()
        content = (content,) if isinstance(content, str) else tuple(content)
        items.append((os.path.basename(item["filename"]), url, item.get("remote_md5"), int(item.get("remote_bytes") or 0) or None, content))
    return tuple(items)


def packages(
    set_name: str,
    *,
    base_url: str | None = None,
    checksums: Mapping[str, tuple[str, int | None] | str] | None = None,
) -> list[Package]:
    """The files of ``set_name`` (``"development"`` or ``"evaluation"``) as dcase_util lists them.

    Parameters
    ----------
    set_name : which published set.
    base_url : replaces the Zenodo folder of every address (a mirror, or the tests' local
        server); the file names stay, and so do the published md5 sums.
    checksums : ``{filename: (md5, bytes)}`` or ``{filename: md5}`` replacing the published
        values (it may cover both sets); a name of no set is an error, so a misspelling is
        never ignored.
    """
    checksums = dict(checksums or {})
    unknown = sorted(set(checksums) - {item[0] for s in SETS for item in _package_items(s)})
    if unknown:
        raise ValueError(f"checksums name file(s) of no DCASE 2017 Task 2 set: {', '.join(unknown)}")
    out = []
    for filename, url, md5, size, content in _package_items(set_name):
        if base_url is not None:
            url = base_url.rstrip("/") + "/" + url.rsplit("/", 1)[-1]
        if filename in checksums:
            value = checksums[filename]
            md5, size = (value, size) if isinstance(value, str) else (value[0], None if value[1] is None else int(value[1]))
        out.append(Package(set_name, filename, url, md5, size, content))
    return out


def _all_packages(sets, base_url, checksums) -> list[Package]:
    return [p for s in _check_sets(sets) for p in packages(s, base_url=base_url, checksums=checksums)]


# --------------------------------------------------------------------------------------------
# State under the root: verified checksums, extraction markers, a lock


def _state(root: Path, *parts: str) -> Path:
    return Path(root) / STATE_DIR / Path(*parts) if parts else Path(root) / STATE_DIR


def _marker_dir(root: Path) -> Path:
    return _state(root, "extracted")


def _extract_target(root: Path, pkg: Package) -> Path:
    """Documentation zips of both sets would collide at the root: each goes to ``doc/<set>``."""
    if pkg.filename.endswith(_DOC_SUFFIX):
        return Path(root) / "doc" / pkg.set_name
    return Path(root)


@contextlib.contextmanager
def _root_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on ``<root>/.rsed/lock`` (POSIX), so two runs never share a ``.part`` file."""
    path = _state(root, "lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DataError(root, "another rsed run is preparing this data root (lock .rsed/lock is held)") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def file_md5(path: str | Path) -> str:
    """MD5 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verified_md5(root: Path, path: Path) -> str:
    """MD5 of ``path``, cached in ``.rsed/verified`` by size and modification time."""
    cache = _state(root, "verified", path.name + ".json")
    st = path.stat()
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(cache.read_text(encoding="utf-8"))
        if {k: data.get(k) for k in key} == key and isinstance(data.get("md5"), str):
            return data["md5"]
    md5 = file_md5(path)
    write_json(cache, {**key, "md5": md5})
    return md5


def verify(root: str | Path, pkg: Package) -> Path:
    """Check the downloaded ``pkg`` against its md5 sum; return its path.

    Raises
    ------
    DataError naming the file when it is missing or its checksum differs (corrupt or truncated).
    """
    path = Path(root) / pkg.filename
    if not path.is_file():
        raise DataError(path, "archive is missing; run the download first")
    if pkg.md5 is not None:
        got = _verified_md5(Path(root), path)
        if got != pkg.md5:
            raise DataError(path, f"md5 {got} differs from the expected {pkg.md5}: the file is corrupt or truncated; delete it and run again")
    return path


# --------------------------------------------------------------------------------------------
# Disk space


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def check_free_space(path: str | Path, needed: int, what: str) -> None:
    """Raise a DataError saying how much space ``what`` needs when ``path``'s disk has less free."""
    path = Path(path)
    probe = path
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed > free:
        raise DataError(path, f"{what} needs {_gb(needed)} of free disk space, only {_gb(free)} free")


def mixture_bytes(config: MixtureConfig) -> int:
    """Size of one 24-bit mono mixture WAV of ``config`` (header included)."""
    return int(round(config.length_seconds * config.sample_rate)) * 3 + 44


def needed_bytes(
    root: str | Path,
    pkgs: list[Package],
    subsets: Iterable[Subset] = (),
    classes: Iterable[str] | None = None,
) -> dict[str, int]:
    """Bytes still to write per stage: ``download``, ``extract`` and ``synthesize`` (an estimate).

    Downloads count what is missing from each archive (a ``.part`` file counts as done);
    extraction counts the member sizes of archives without a completion marker (the archive
    size when it is not downloaded yet); synthesis counts 24-bit mixtures of the classes
    without an event list in each subset (before the sources are extracted, of ``classes`` or
    of the three DCASE classes).
    """
    root = Path(root)
    classes = None if classes is None else list(classes)
    need = {"download": 0, "extract": 0, "synthesize": 0}
    for pkg in pkgs:
        path = root / pkg.filename
        extracted = pkg.is_zip and archives.is_extracted(path, _marker_dir(root), _extract_target(root, pkg), md5=pkg.md5)
        if not extracted and not path.is_file() and pkg.size:
            part = path.with_name(path.name + ".part")
            need["download"] += max(0, pkg.size - (part.stat().st_size if part.is_file() else 0))
        if pkg.is_zip and not extracted:
            try:
                need["extract"] += archives.uncompressed_bytes(path)
            except DataError:
                need["extract"] += pkg.size or 0
    for spec in subsets:
        in_data = _split_classes_or_none(root, spec.split)
        if in_data is None:
            wanted = classes or list(DCASE2017_CLASSES)
        else:
            wanted = [c for c in in_data if classes is None or c in classes]
        done = {s.class_name for s in find_mixture_sets(root, spec.name)} if (root / MIXTURE_DIR).is_dir() else set()
        missing = [c for c in wanted if c not in done]
        need["synthesize"] += len(missing) * spec.config.mixtures_per_class * mixture_bytes(spec.config)
    return need


def _split_classes_or_none(root: Path, split: str) -> list[str] | None:
    try:
        return read_source_split(root, split).classes
    except DataError:
        return None


# --------------------------------------------------------------------------------------------
# Download


def _progress_bar(total: int | None, initial: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not (enabled and sys.stderr.isatty()))


def fetch(url: str, dest: str | Path, *, size: int | None = None, md5: str | None = None, retries: int = 3, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` resumably and check it; return ``dest``.

    Bytes go to ``<dest>.part``; an existing ``.part`` is continued with an HTTP ``Range``
    request (a server that ignores ranges makes it start over). A connection that breaks or
    ends early is resumed up to ``retries`` times; after that a DataError says how far it got
    and the next call continues from there. The finished file is checked against ``size`` and
    ``md5`` and only then renamed to ``dest``.

    Raises
    ------
    DataError naming ``dest``: an HTTP error, an interrupted download (resumable), or a size
    or md5 mismatch (the ``.part`` file is removed: it cannot be resumed).
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = 0
    while True:
        have = part.stat().st_size if part.is_file() else 0
        if size is not None and have > size:
            part.unlink()
            have = 0
        if size is not None and have == size:
            break
        request = urllib.request.Request(url, headers={"User-Agent": f"rsed/{__version__}", "Accept-Encoding": "identity"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        expected_total = size
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status = getattr(response, "status", 200)
                if have and status == 206:
                    match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
                    if not match or int(match[1]) != have:
                        raise DataError(dest, f"server answered range {response.headers.get('Content-Range')!r} to a request from byte {have}")
                    if match[3] != "*":
                        expected_total = int(match[3])
                    mode = "ab"
                else:  # 200: the whole file (a server without range support starts over)
                    have, mode = 0, "wb"
                    length = response.headers.get("Content-Length")
                    if length is not None and expected_total is None:
                        expected_total = int(length)
                with open(part, mode) as handle, _progress_bar(expected_total, have, dest.name, progress) as bar:
                    while chunk := response.read(_CHUNK):
                        handle.write(chunk)
                        bar.update(len(chunk))
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing left past our bytes: the .part is complete
                break
            raise DataError(dest, f"download failed: HTTP {exc.code} {exc.reason} from {url}") from None
        except (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, OSError) as exc:
            failures += 1
            got = part.stat().st_size if part.is_file() else 0
            if failures > retries:
                total = f" of {expected_total}" if expected_total else ""
                raise DataError(dest, f"download interrupted after {got}{total} bytes ({exc}); run again to resume") from None
            time.sleep(min(2.0 ** failures, 30.0) if failures > 1 else 0.0)
            continue
        got = part.stat().st_size if part.is_file() else 0
        if expected_total is not None and got < expected_total:
            failures += 1
            if failures > retries:
                raise DataError(dest, f"download interrupted after {got} of {expected_total} bytes (connection closed early); run again to resume")
            continue
        break
    got = part.stat().st_size
    if size is not None and got != size:
        part.unlink()
        raise DataError(dest, f"downloaded {got} bytes, expected {size}: the download was removed; run again")
    if md5 is not None:
        digest = file_md5(part)
        if digest != md5:
            part.unlink()
            raise DataError(dest, f"md5 {digest} of the download differs from the expected {md5}: the file is corrupt; the download was removed, run again")
    os.replace(part, dest)
    return dest


def download(
    root: str | Path,
    *,
    sets: Iterable[str] = SETS,
    base_url: str | None = None,
    checksums: Mapping | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    progress: bool = True,
) -> list[Path]:
    """Download (or resume) and verify every archive of ``sets`` into ``root``.

    An archive whose extraction is complete (marker with the same md5) is not needed again and
    may have been deleted; an archive already present is verified against its md5 sum (the
    result is cached by size and modification time). Checks free disk space first.

    Returns
    -------
    paths : the archives on disk (skipped ones included when present).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    pkgs = _all_packages(sets, base_url, checksums)
    need = needed_bytes(root, pkgs)
    check_free_space(root, need["download"], "downloading the archives")
    paths = []
    with _root_lock(root):
        for pkg in pkgs:
            path = root / pkg.filename
            if pkg.is_zip and archives.is_extracted(path, _marker_dir(root), _extract_target(root, pkg), md5=pkg.md5):
                if path.is_file():
                    paths.append(path)
                continue
            if path.is_file():
                paths.append(verify(root, pkg))
                continue
            fetch(pkg.url, path, size=pkg.size, md5=pkg.md5, retries=retries, timeout=timeout, progress=progress)
            if pkg.md5 is not None:
                write_json(_state(root, "verified", path.name + ".json"), {"size": path.stat().st_size, "mtime_ns": path.stat().st_mtime_ns, "md5": pkg.md5})
            paths.append(path)
    return paths


# --------------------------------------------------------------------------------------------
# Extraction


def extract(
    root: str | Path,
    *,
    sets: Iterable[str] = SETS,
    base_url: str | None = None,
    checksums: Mapping | None = None,
    progress: bool = True,
) -> list[Path]:
    """Verify and extract every zip of ``sets`` into ``root`` (see :mod:`rsed.data.archives`).

    Returns the completion markers. An archive completely extracted before is skipped; an
    interrupted extraction (no marker) is repeated.
    """
    root = Path(root)
    pkgs = [p for p in _all_packages(sets, base_url, checksums) if p.is_zip]
    markers = []
    with _root_lock(root):
        for pkg in pkgs:
            path = root / pkg.filename
            target = _extract_target(root, pkg)
            if archives.is_extracted(path, _marker_dir(root), target, md5=pkg.md5):
                markers.append(archives.marker_path(path, _marker_dir(root)))
                continue
            verify(root, pkg)
            markers.append(archives.extract(path, target, _marker_dir(root), md5=pkg.md5, keep_top=("data", CODE_DIR), progress=progress))
    return markers


def check_extracted(root: str | Path, set_name: str, *, base_url: str | None = None, checksums: Mapping | None = None) -> None:
    """Raise a DataError naming the first archive of ``set_name`` that is not completely extracted."""
    root = Path(root)
    for pkg in packages(set_name, base_url=base_url, checksums=checksums):
        if pkg.is_zip and not archives.is_extracted(root / pkg.filename, _marker_dir(root), _extract_target(root, pkg), md5=pkg.md5):
            raise DataError(root / pkg.filename, "archive is not (completely) extracted; run `rsed data dcase2017` again")


# --------------------------------------------------------------------------------------------
# Sources and the evaluation set


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


# --------------------------------------------------------------------------------------------
# The official synthesizer through dcase_util


class LegacyYamlLoader(yaml.SafeLoader):
    """Safe loader that also reads the ``!!python/str`` and ``!!python/unicode`` tags of Python 2 dumps."""


for _tag in ("tag:yaml.org,2002:python/str", "tag:yaml.org,2002:python/unicode"):
    LegacyYamlLoader.add_constructor(_tag, yaml.constructor.SafeConstructor.construct_yaml_str)


class _LegacyYaml(types.ModuleType):
    """What the official synthesizer sees as ``yaml``: PyYAML as it behaved before 5.1.

    ``load`` without a Loader uses :class:`LegacyYamlLoader` (safe); ``dump`` defaults to
    ``default_flow_style=None`` (the pre-5.1 default); everything else is PyYAML itself.
    """

    def __getattr__(self, name):
        return getattr(yaml, name)

    def load(self, stream, Loader=None):  # noqa: N803 (PyYAML's argument name)
        return yaml.load(stream, Loader=Loader or LegacyYamlLoader)

    def dump(self, data, stream=None, **kwargs):
        kwargs.setdefault("default_flow_style", None)
        return yaml.dump(data, stream, **kwargs)


#: The ``yaml`` the official synthesizer module is given (see :class:`_LegacyYaml`).
LEGACY_YAML = _LegacyYaml("yaml")


def official_parameters(config: MixtureConfig) -> dict:
    """The mixing parameters as dcase_util hands them to the official synthesizer (plain Python numbers)."""
    ebrs = [int(e) if float(e).is_integer() else float(e) for e in config.ebrs]
    return {
        "event_presence_prob": float(config.event_presence_prob),
        "mixtures_per_class": int(config.mixtures_per_class),
        "ebrs": ebrs,
        "seed": int(config.seed),
    }


def official_param_hash(config: MixtureConfig, *, legacy: bool = True) -> str:
    """The official folder name of ``config``: md5 of the YAML dump of :func:`official_parameters`.

    ``legacy=True`` dumps as PyYAML < 5.1 did (the published ``20b255387a2d0cddc0a3dff5014875e7``
    for the defaults); ``legacy=False`` gives what dcase_util 0.2.20 computes on PyYAML >= 5.1.
    """
    params = official_parameters(config)
    text = LEGACY_YAML.dump(params) if legacy else yaml.dump(params)
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _ipython_stub() -> types.ModuleType:
    stub = types.ModuleType("IPython")

    def embed(*args, **kwargs):
        raise RuntimeError("the official synthesizer called IPython.embed(); rsed runs it without IPython")

    stub.embed = embed
    stub.__rsed_stub__ = True
    return stub


_MISSING = object()


@contextlib.contextmanager
def official_synthesizer(code_dir: str | Path, recipe_classes: Mapping[str, list[str]], mix_classes: Mapping[str, list[str]]) -> Iterator[types.ModuleType]:
    """Import the official ``core.py`` as module ``core`` with the shims of this module's Notes.

    While the context is open, ``sys.modules['core']`` is the prepared module, so dcase_util's
    ``from core import generate_mixture_recipes, do_mixing`` gets it. Its
    ``generate_mixture_recipes`` runs for ``recipe_classes[subset]`` and ``do_mixing`` for
    ``mix_classes[subset]`` (nothing for a subset with no classes). ``sys.modules`` and
    ``sys.path`` are restored on exit.
    """
    core_py = Path(code_dir) / "core.py"
    if not core_py.is_file():
        raise DataError(core_py, "the official synthesizer is missing (extract the development code zip, or use synthesizer='rsed')")
    saved_core = sys.modules.pop("core", _MISSING)
    saved_path = list(sys.path)
    stubbed = "IPython" not in sys.modules
    try:
        spec = importlib.util.spec_from_file_location("core", core_py)
        module = importlib.util.module_from_spec(spec)
        sys.modules["core"] = module
        if stubbed:
            sys.modules["IPython"] = _ipython_stub()
        try:
            spec.loader.exec_module(module)
        except ImportError as exc:
            raise DataError(core_py, f"the official synthesizer cannot be imported ({exc}); install the missing package or use synthesizer='rsed'") from exc
        finally:
            if stubbed:
                sys.modules.pop("IPython", None)
        for name in ("generate_mixture_recipes", "do_mixing", "classnames"):
            if not hasattr(module, name):
                raise DataError(core_py, f"does not define {name!r}: not the DCASE 2017 Task 2 mixture synthesizer")
        module.yaml = LEGACY_YAML
        generate, mixing = module.generate_mixture_recipes, module.do_mixing
        compat = "dcase_compatibility_mode" in inspect.signature(mixing).parameters

        def generate_mixture_recipes(data_path, current_subsets=None, mixing_params=None):
            for subset in np.atleast_1d(current_subsets):
                names = list(recipe_classes.get(str(subset), []))
                if names:
                    module.classnames = names
                    generate(data_path=data_path, current_subsets=np.array([str(subset)]), mixing_params=mixing_params)

        def do_mixing(data_path, current_subsets=None, magic_anticlipping_factor=OFFICIAL_ANTI_CLIPPING, param_hash=None, **kwargs):
            if not compat:
                kwargs.pop("dcase_compatibility_mode", None)
            for subset in np.atleast_1d(current_subsets):
                names = list(mix_classes.get(str(subset), []))
                if names:
                    module.classnames = names
                    mixing(data_path=data_path, current_subsets=np.array([str(subset)]), magic_anticlipping_factor=magic_anticlipping_factor, param_hash=param_hash, **kwargs)

        module.generate_mixture_recipes = generate_mixture_recipes
        module.do_mixing = do_mixing
        yield module
    finally:
        sys.path[:] = saved_path
        if saved_core is _MISSING:
            sys.modules.pop("core", None)
        else:
            sys.modules["core"] = saved_core


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


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


def _synth_parameters(config: MixtureConfig) -> dict:
    p = official_parameters(config)
    return {"seed": p["seed"], "event_presence_prob": p["event_presence_prob"], "mixtures_per_class": p["mixtures_per_class"], "ebr_list": p["ebrs"]}


def _check_official_config(module: types.ModuleType, spec: Subset, core_py: Path) -> None:
    length = getattr(module, "BG_LENGTH_SECONDS", None)
    rate = getattr(module, "common_fs", None)
    if length is not None and float(length) != float(spec.config.length_seconds):
        raise DataError(core_py, f"makes {length} s mixtures but subset {spec.name!r} asks for {spec.config.length_seconds} s; use synthesizer='rsed' for other lengths")
    if rate is not None and int(rate) != int(spec.config.sample_rate):
        raise DataError(core_py, f"writes {rate} Hz mixtures but subset {spec.name!r} asks for {spec.config.sample_rate} Hz; use synthesizer='rsed'")
    if float(spec.config.anti_clipping_factor) != OFFICIAL_ANTI_CLIPPING:
        raise DataError(core_py, f"dcase_util mixes with anti-clipping factor {OFFICIAL_ANTI_CLIPPING}, subset {spec.name!r} asks for {spec.config.anti_clipping_factor}; use synthesizer='rsed'")


def _promote(root: Path, staging: Path, disk_subset: str, spec: Subset, param_hash: str, classes: list[str], provenance: dict) -> list[MixtureSet]:
    """Check the official output of ``disk_subset`` in ``staging`` and move it into ``root`` as ``spec.name``.

    Per class: the recipes and the event list must name the same ``mixtures_per_class``
    files, each a readable audio file; the audio is moved, the recipes written, and the event
    list written last. Raises a DataError or AudioError naming the file otherwise.
    """
    src = staging / "data" / "mixture_data" / disk_subset / param_hash
    if not src.is_dir():
        raise DataError(src, f"the official synthesizer wrote no folder for {disk_subset!r} with parameter hash {param_hash}")
    dst = mixture_folder(root, spec.name, param_hash)
    (dst / "meta").mkdir(parents=True, exist_ok=True)
    if (src / "parameters.yaml").is_file():
        write_text(dst / "parameters.yaml", (src / "parameters.yaml").read_text(encoding="utf-8"))
    write_yaml(dst / "meta" / "synthesizer.yaml", provenance)
    sets = []
    for cls in classes:
        recipes_path = src / "meta" / f"mixture_recipes_{disk_subset}_{cls}.yaml"
        events_path = src / "meta" / f"event_list_{disk_subset}_{cls}.csv"
        if not recipes_path.is_file():
            raise DataError(recipes_path, "the official synthesizer wrote no recipes for this class")
        recipes_text = recipes_path.read_text(encoding="utf-8")
        recipes = LEGACY_YAML.load(recipes_text) or []
        events = read_event_list(events_path)
        names = [r["mixture_audio_filename"] for r in recipes]
        if len(names) != spec.config.mixtures_per_class:
            raise DataError(recipes_path, f"holds {len(names)} recipes, expected {spec.config.mixtures_per_class}")
        if [e.filename for e in events] != names:
            raise DataError(events_path, "does not list the mixtures of the recipes, in order")
        for name in names:
            if audio_info(src / "audio" / name).frames == 0:
                raise AudioError(src / "audio" / name, "the official synthesizer wrote an empty mixture")
        mset = MixtureSet(root, spec.name, param_hash, cls)
        mset.event_list_path.unlink(missing_ok=True)
        mset.audio_dir.mkdir(parents=True, exist_ok=True)
        keep = set(names)
        for old in mset.audio_dir.glob(f"mixture_{disk_subset}_{cls}_*.wav"):
            if old.name not in keep:
                old.unlink()
        for name in names:
            os.replace(src / "audio" / name, mset.audio_dir / name)
        write_text(mset.recipes_path, recipes_text)
        write_text(mset.event_list_path, events_path.read_text(encoding="utf-8"))  # last: marks the class set complete
        sets.append(mset)
    return sets


def synthesize_official(
    root: str | Path,
    subsets: Iterable[Subset] = DEFAULT_SUBSETS,
    classes: Iterable[str] | None = None,
    *,
    progress: bool = True,
) -> list[MixtureSet]:
    """Synthesize ``subsets`` with the official synthesizer (code zip) run by dcase_util's ``synthesize()``.

    dcase_util maps its ``train`` and ``test`` parameter sets to the source splits ``devtrain``
    and ``devtest``; each call pairs one subset of each split. It runs in a staging folder
    ``<root>/.rsed/staging/`` (sources linked, not copied); afterwards every class is checked
    and moved to ``data/mixture_data/<subset>/<param_hash>/``, event list last. A subset whose
    name is not its split's (``train``) gets its meta files renamed to the subset; the audio
    keeps the official names (``mixture_devtrain_...``). Complete classes are skipped; an
    interrupted run starts its staging folder over.

    Parameters
    ----------
    root : data root with ``data/source_data`` and ``TUT_Rare_sound_events_mixture_synthesizer``.
    subsets : what to make; splits must be ``devtrain`` or ``devtest``; configs must match the
        synthesizer's fixed length, rate and anti-clipping factor.
    classes : limit to these classes (default: every class of the split's ``cv_setup``).
    progress : progress bars (on a terminal).

    Returns
    -------
    sets : one :class:`MixtureSet` per subset and class, in the order of ``subsets``.
    """
    from dcase_util.datasets import TUTRareSoundEvents_2017_DevelopmentSet

    root = Path(root)
    code_dir = root / CODE_DIR
    subsets = _check_subsets(subsets)
    for spec in subsets:
        if spec.split not in ("devtrain", "devtest"):
            raise ValueError(f"the official synthesizer draws from devtrain or devtest, not {spec.split!r} (subset {spec.name!r})")
    check_free_space(root, needed_bytes(root, [], subsets, classes)["synthesize"], "synthesizing the mixtures")
    all_classes = {split: sorted(read_source_split(root, split).classes) for split in {s.split for s in subsets}}
    checked = {split: check_sources(root, split, classes) for split in all_classes}
    wanted = {s.name: checked[s.split] for s in subsets}
    hashes = {s.name: (official_param_hash(s.config), official_param_hash(s.config, legacy=False)) for s in subsets}
    for s in subsets:
        _check_no_other_folder(root, s.name, hashes[s.name], wanted[s.name])
    train_like = [s for s in subsets if s.split == "devtrain"]
    test_like = [s for s in subsets if s.split == "devtest"]
    code_md5 = file_md5(code_dir / "core.py") if (code_dir / "core.py").is_file() else None
    show = progress and sys.stderr.isatty()
    with _root_lock(root):
        for run_id, (train_spec, test_spec) in enumerate(itertools.zip_longest(train_like, test_like)):
            slots = {"devtrain": train_spec, "devtest": test_spec}
            missing = {
                disk: [c for c in wanted[spec.name] if c not in _complete_classes(root, spec.name, hashes[spec.name])] if spec else []
                for disk, spec in slots.items()
            }
            if not any(missing.values()):
                continue
            recipe_classes = {disk: (all_classes[disk] if missing[disk] else []) for disk in slots}
            staging = _state(root, "staging", f"dcase_util-{run_id}")
            if staging.exists():
                shutil.rmtree(staging)  # an interrupted run: its output cannot be trusted
            (staging / "data").mkdir(parents=True)
            os.symlink(source_dir(root).resolve(), staging / "data" / "source_data", target_is_directory=True)
            params = {
                "train": _synth_parameters(train_spec.config if train_spec else MixtureConfig()),
                "test": _synth_parameters(test_spec.config if test_spec else MixtureConfig()),
            }
            dataset = TUTRareSoundEvents_2017_DevelopmentSet(local_path=str(staging), synth_parameters=params, show_progress_in_console=show, log_system_progress=False)
            for key, spec in (("train", train_spec), ("test", test_spec)):
                # Shim: the folder name as PyYAML < 5.1 computed it (the published hash).
                dataset.synth_parameters[key]["param_hash"] = official_param_hash(spec.config if spec else MixtureConfig())
            labels = sorted(set().union(*recipe_classes.values()))
            dataset.event_labels = lambda scene_label=None, _labels=labels: list(_labels)
            dataset.prepare()
            # dcase_util's own index (meta file, evaluation setup lists) is not used by rsed:
            # present files make synthesize() skip building it.
            for path in (
                dataset.meta_file,
                dataset.evaluation_setup_filename(setup_part="train", fold=1),
                dataset.evaluation_setup_filename(setup_part="test", fold=1),
                dataset.evaluation_setup_filename(setup_part="evaluate", fold=1),
            ):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).touch()
            with official_synthesizer(code_dir, recipe_classes, missing) as module:
                for spec in (train_spec, test_spec):
                    if spec is not None:
                        _check_official_config(module, spec, code_dir / "core.py")
                try:
                    dataset.synthesize()
                except (DataError, AudioError):
                    raise
                except Exception as exc:
                    raise DataError(code_dir / "core.py", f"the official synthesizer failed: {type(exc).__name__}: {exc}") from exc
            for disk, spec in slots.items():
                if spec is None or not missing[disk]:
                    continue
                param_hash = official_param_hash(spec.config)
                provenance = {
                    "synthesizer": "dcase_util",
                    "dcase_util_version": _version("dcase_util"),
                    "code_md5": code_md5,
                    "subset": spec.name,
                    "split": spec.split,
                    "subset_on_disk": disk,
                    "param_hash": param_hash,
                    "parameters": official_parameters(spec.config),
                    "shims": ["IPython stub at import", "legacy yaml (safe load, pre-5.1 dump)", "plain Python parameters (numpy.asscalar)", "classnames from the data"],
                    "rsed_version": __version__,
                }
                _promote(root, staging, disk, spec, param_hash, missing[disk], provenance)
            shutil.rmtree(staging)
    out = []
    for spec in subsets:
        found = {s.class_name: s for s in find_mixture_sets(root, spec.name, wanted[spec.name]) if s.param_hash in hashes[spec.name]}
        out.extend(found[c] for c in wanted[spec.name] if c in found)
    return out


# --------------------------------------------------------------------------------------------
# Our mixer


def synthesize_rsed(root: str | Path, subsets: Iterable[Subset] = DEFAULT_SUBSETS, classes: Iterable[str] | None = None, *, progress: bool = True) -> list[MixtureSet]:
    """Synthesize ``subsets`` with :func:`rsed.data.mixing.synthesize` (resumable, any split)."""
    from .mixing import mixture_param_hash, synthesize

    root = Path(root)
    out = []
    for spec in _check_subsets(subsets):
        wanted = check_sources(root, spec.split, classes)
        _check_no_other_folder(root, spec.name, {mixture_param_hash(spec.config, spec.split)}, wanted)
        need = needed_bytes(root, [], [spec], wanted)["synthesize"]
        check_free_space(root, need, f"synthesizing {spec.name!r}")
        out.extend(synthesize(root, spec.name, spec.split, spec.config, classes=wanted, progress=progress))
    return out


# --------------------------------------------------------------------------------------------
# Everything


def choose_synthesizer(root: str | Path, synthesizer: str = "auto", subsets: Iterable[Subset] = ()) -> str:
    """Resolve ``synthesizer``: ``"auto"`` keeps the synthesizer that made existing subsets of
    ``subsets`` under ``root``, else picks ``"dcase_util"`` when the official code is extracted,
    else ``"rsed"``."""
    if synthesizer not in SYNTHESIZERS:
        raise ValueError(f"unknown synthesizer {synthesizer!r}; choose from {', '.join(SYNTHESIZERS)}")
    if synthesizer != "auto":
        return synthesizer
    from .mixing import mixture_param_hash

    root = Path(root)
    if (root / MIXTURE_DIR).is_dir():
        for spec in subsets:
            found = {s.param_hash for s in find_mixture_sets(root, spec.name)}
            if found & {official_param_hash(spec.config), official_param_hash(spec.config, legacy=False)}:
                return "dcase_util"
            if mixture_param_hash(spec.config, spec.split) in found:
                return "rsed"
    return "dcase_util" if (root / CODE_DIR / "core.py").is_file() else "rsed"


def prepare(
    root: str | Path,
    *,
    sets: Iterable[str] = SETS,
    synthesizer: str = "auto",
    classes: Iterable[str] | None = None,
    subsets: Iterable[Subset] | None = None,
    base_url: str | None = None,
    checksums: Mapping | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    progress: bool = True,
) -> list[MixtureSet]:
    """Download, verify, extract and synthesize everything the paper uses under ``root``.

    Every stage is resumable and skips what is complete; free disk space for all remaining
    stages is checked before anything is written.

    Parameters
    ----------
    root : the data root (created); holds the archives, ``data/`` and ``.rsed/``.
    sets : ``"development"`` (sources, synthesized subsets) and/or ``"evaluation"`` (pre-mixed).
    synthesizer : ``"dcase_util"`` (the official synthesizer through dcase_util), ``"rsed"``
        (our mixer) or ``"auto"`` (the one that made the subsets already there, else dcase_util
        when the code zip is extracted, else rsed).
    classes : limit synthesis and the returned sets to these classes (default: all in the data).
    subsets : the subsets to synthesize (default :data:`DEFAULT_SUBSETS`, read at call time).
    base_url, checksums : see :func:`packages`.
    retries, timeout : per-download retries of a broken connection, socket timeout (s).
    progress : progress bars (on a terminal).

    Returns
    -------
    sets : the synthesized subsets' :class:`MixtureSet` objects, then ``evaltest``'s.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    sets = _check_sets(sets)
    subsets = _check_subsets(DEFAULT_SUBSETS if subsets is None else subsets) if DEVELOPMENT in sets else []
    classes = None if classes is None else list(classes)
    pkgs = _all_packages(sets, base_url, checksums)
    need = needed_bytes(root, pkgs, subsets, classes)
    check_free_space(root, sum(need.values()), "preparing DCASE 2017 Task 2 (" + ", ".join(f"{k} {_gb(v)}" for k, v in need.items()) + ")")
    download(root, sets=sets, base_url=base_url, checksums=checksums, retries=retries, timeout=timeout, progress=progress)
    extract(root, sets=sets, base_url=base_url, checksums=checksums, progress=progress)
    out: list[MixtureSet] = []
    if DEVELOPMENT in sets:
        check_extracted(root, DEVELOPMENT, base_url=base_url, checksums=checksums)
        chosen = choose_synthesizer(root, synthesizer, subsets)
        if chosen == "dcase_util":
            out += synthesize_official(root, subsets, classes, progress=progress)
        else:
            out += synthesize_rsed(root, subsets, classes, progress=progress)
    if EVALUATION in sets:
        check_extracted(root, EVALUATION, base_url=base_url, checksums=checksums)
        out += evaluation_sets(root, classes)
    return out


def read_checksums(path: str | Path) -> dict[str, str]:
    """Read an ``md5sum``-style file (``<md5>  <archive name>`` per line) into ``{name: md5}``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "checksum file is missing")
    out = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.match(r"^([0-9a-fA-F]{32})\s+\*?(.+?)\s*$", line)
        if not match:
            raise DataError(path, f"line {number}: expected '<md5>  <file name>', got {line!r}")
        out[os.path.basename(match[2])] = match[1].lower()
    return out


def cli_prepare(
    root: Path,
    *,
    classes: list[str] | None = None,
    synthesizer: str = "auto",
    skip_evaluation: bool = False,
    base_url: str | None = None,
    checksums: str | None = None,
) -> list[MixtureSet]:
    """``rsed data dcase2017``: :func:`prepare` and a summary line per subset on stdout."""
    sums = read_checksums(checksums) if checksums else None
    sets = (DEVELOPMENT,) if skip_evaluation else SETS
    try:
        result = prepare(root, sets=sets, synthesizer=synthesizer, classes=classes, base_url=base_url, checksums=sums)
    except ValueError as exc:  # a misspelt option value: no traceback
        raise DataError(None, str(exc)) from None
    by_subset: dict[tuple[str, str], list[MixtureSet]] = {}
    for mset in result:
        by_subset.setdefault((mset.subset, mset.param_hash), []).append(mset)
    for (subset, param_hash), msets in by_subset.items():
        n = sum(len(read_event_list(m.event_list_path)) for m in msets)
        names = ", ".join(m.class_name for m in msets)
        print(f"{subset}/{param_hash}: {n} mixtures ({names}) in {mixture_folder(root, subset, param_hash)}")
    return result


__all__ = [
    "DEVELOPMENT",
    "EVALUATION",
    "SETS",
    "SYNTHESIZERS",
    "OFFICIAL_DEFAULT_HASH",
    "EVALTEST_HASH",
    "CODE_DIR",
    "TRAIN_SEED",
    "Subset",
    "DEFAULT_SUBSETS",
    "Package",
    "packages",
    "needed_bytes",
    "check_free_space",
    "fetch",
    "download",
    "verify",
    "extract",
    "check_extracted",
    "check_sources",
    "evaluation_sets",
    "official_parameters",
    "official_param_hash",
    "official_synthesizer",
    "LEGACY_YAML",
    "synthesize_official",
    "synthesize_rsed",
    "choose_synthesizer",
    "prepare",
    "read_checksums",
    "cli_prepare",
]
