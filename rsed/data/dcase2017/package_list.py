"""The published sets of DCASE 2017 Task 2 as dcase_util lists them: archive names, addresses, sizes, md5 sums."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from ...errors import DataError

DEVELOPMENT = "development"
EVALUATION = "evaluation"
SETS = (DEVELOPMENT, EVALUATION)

#: The folder of the pre-mixed evaluation mixtures (dcase_util's ``audio_paths``).
EVALTEST_HASH = "bbb81504db15a03680a0044474633b67"
EVALTEST = "evaltest"
#: Folder of the official synthesizer (from the code zip) under the data root.
CODE_DIR = "TUT_Rare_sound_events_mixture_synthesizer"



@dataclass(frozen=True)
class Package:
    """One file of a published set (an entry of dcase_util's package list).

    ``size`` is the length a download must have; None (a file the user gave by its md5 sum
    alone) leaves the check to ``md5`` and the disk-space estimate without this file.
    """

    set_name: str
    filename: str
    url: str
    md5: str | None
    size: int | None
    content_types: tuple[str, ...]

    @property
    def is_zip(self) -> bool:
        return self.filename.lower().endswith(".zip")



def _dataset_class(set_name: str):
    from dcase_util.datasets import TUTRareSoundEvents_2017_DevelopmentSet, TUTRareSoundEvents_2017_EvaluationSet

    classes = {DEVELOPMENT: TUTRareSoundEvents_2017_DevelopmentSet, EVALUATION: TUTRareSoundEvents_2017_EvaluationSet}
    if set_name not in classes:
        raise ValueError(f"unknown set {set_name!r}; choose from {', '.join(SETS)}")
    return classes[set_name]



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
        never ignored. A file given by its md5 alone has no size to match (``size`` None): the
        published size belongs to the published file, and the given checksum decides.
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
            md5, size = (value, None) if isinstance(value, str) else (value[0], None if value[1] is None else int(value[1]))
        out.append(Package(set_name, filename, url, md5, size, content))
    return out


def _all_packages(sets, base_url, checksums) -> list[Package]:
    return [p for s in _check_sets(sets) for p in packages(s, base_url=base_url, checksums=checksums)]



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
