"""Extracting the archives into the data root (checked members, completion markers; :mod:`rsed.data.archives`)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from ...errors import DataError
from .. import archives
from .disk import _extract_target, _marker_dir, _root_lock, verify
from .package_list import CODE_DIR, SETS, _all_packages, packages


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
