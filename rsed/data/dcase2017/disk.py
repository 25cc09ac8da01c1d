"""The data root on disk: rsed's state folder, its lock, verified checksums, and the free space every stage needs."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from pathlib import Path
from typing import Iterable, Iterator

from ...config import DCASE2017_CLASSES, MixtureConfig
from ...errors import DataError
from ...fileio import write_json
from .. import archives
from ..layout import MIXTURE_DIR, find_mixture_sets, read_source_split
from .package_list import Package
from .subsets import Subset

#: rsed's own state under the data root: verified checksums, extraction markers, staging.
STATE_DIR = ".rsed"

_DOC_SUFFIX = ".doc.zip"
_CHUNK = 1 << 20



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
