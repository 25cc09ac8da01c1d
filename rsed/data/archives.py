"""Safe, resumable zip extraction with a completion marker per archive.

Every member of an archive is checked **before anything is written**: a member whose path is
absolute, holds ``..``, a drive letter or a backslash, or that is a symbolic link or another
special file, makes the whole archive refused with a :class:`~rsed.errors.DataError` naming
the archive and the member. Files are written under a temporary name and renamed into place,
so a file with its final name is always complete, and the marker
``<marker_dir>/<archive name>.json`` is written last: an archive without a marker is not
(completely) extracted and is extracted again on the next run.

Like dcase_util's ``PackageMixin.extract(omit_first_level=True)``, a first folder shared by
every member (``TUT-rare-sound-events-2017-development/``) is dropped, unless it is one of the
``keep_top`` names (a zip that starts directly with ``data/`` keeps it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import sys
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import DataError
from ..fileio import write_json

#: Layout version of the extraction marker; a marker of another version is not trusted.
MARKER_VERSION = 1
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    """One file or folder of an archive and where it goes (POSIX path relative to the target)."""

    info: zipfile.ZipInfo
    target: str

    @property
    def is_dir(self) -> bool:
        return self.info.is_dir()


def _open(archive: Path) -> zipfile.ZipFile:
    if not archive.is_file():
        raise DataError(archive, "archive is missing")
    try:
        return zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(archive, f"not a valid zip archive, corrupt or truncated ({exc})") from None


def _unsafe_reason(name: str, info: zipfile.ZipInfo) -> str | None:
    """Why a member must not be extracted, or ``None`` when it is a plain file or folder inside the target."""
    if not name or "\x00" in name:
        return "has an empty or NUL-holding name"
    if "\\" in name:
        return "holds a backslash (a Windows path that may escape the folder)"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if any(part == ".." for part in name.split("/")):
        return "holds '..' and would be written outside the extraction folder"
    kind = stat.S_IFMT(info.external_attr >> 16)  # Unix file type; 0 when the zip records none
    if kind == stat.S_IFLNK:
        return "is a symbolic link"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "is not a regular file or folder"
    if info.flag_bits & 0x1:
        return "is encrypted"
    return None


def _check_clashes(archive: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse two members with one path, or a file that another member needs as a folder."""
    files, folders = set(), set()
    for info in infos:
        parts = PurePosixPath(info.filename).parts
        if not parts:
            continue
        path = "/".join(parts)
        if not info.is_dir():
            if path in files:
                raise DataError(archive, f"refusing to extract: member {info.filename!r} appears twice")
            files.add(path)
        else:
            folders.add(path)
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = sorted(files & folders)
    if clash:
        raise DataError(archive, f"refusing to extract: {clash[0]!r} is both a file and a folder in the archive")


def plan(archive: str | Path, *, keep_top: tuple[str, ...] = ("data",)) -> list[Member]:
    """Check every member of ``archive`` and return where each goes; nothing is written.

    Raises
    ------
    DataError naming the archive: not a zip, or a member that escapes the folder, is a link,
    a special file or encrypted.
    """
    archive = Path(archive)
    with _open(archive) as z:
        infos = z.infolist()
    for info in infos:
        reason = _unsafe_reason(info.filename, info)
        if reason:
            raise DataError(archive, f"refusing to extract: member {info.filename!r} {reason}")
    _check_clashes(archive, infos)
    names = [info.filename for info in infos]
    tops = {name.split("/", 1)[0] for name in names}
    strip = ""
    if len(tops) == 1 and all("/" in n for n in names if not n.endswith("/")):
        top = next(iter(tops))
        if top not in keep_top and any(n.startswith(top + "/") and len(n) > len(top) + 1 for n in names):
            strip = top + "/"
    members = []
    for info in infos:
        rel = info.filename[len(strip) :] if info.filename.startswith(strip) else info.filename
        rel = str(PurePosixPath(rel)) if rel.strip("/") else ""
        if not rel or rel == ".":
            continue
        members.append(Member(info, rel))
    return members


def marker_path(archive: str | Path, marker_dir: str | Path) -> Path:
    return Path(marker_dir) / f"{Path(archive).name}.json"


def read_marker(archive: str | Path, marker_dir: str | Path) -> dict | None:
    """The completion marker of ``archive``, or ``None`` when it is missing, unreadable or of another version."""
    path = marker_path(archive, marker_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("marker_version") != MARKER_VERSION:
        return None
    return data


def is_extracted(archive: str | Path, marker_dir: str | Path, target: str | Path, *, md5: str | None = None, check_files: bool = True) -> bool:
    """Whether ``archive`` was completely extracted into ``target`` (marker present, files in place).

    ``md5``, when given, must equal the checksum recorded in the marker. ``check_files`` also
    checks that every extracted file still exists. Sizes are not compared: a file with its
    final name is always complete (renamed into place), and two archives may share a small
    file such as a README.
    """
    marker = read_marker(archive, marker_dir)
    if marker is None:
        return False
    if md5 is not None and marker.get("md5") not in (None, md5):
        return False
    if check_files:
        target = Path(target)
        if not all((target / rel).is_file() for rel in marker.get("files", {})):
            return False
    return True


def uncompressed_bytes(archive: str | Path) -> int:
    """Sum of the member sizes of ``archive`` (its central directory; nothing is read)."""
    with _open(Path(archive)) as z:
        return sum(info.file_size for info in z.infolist())


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, disable=not (enabled and sys.stderr.isatty()))


def extract(
    archive: str | Path,
    target: str | Path,
    marker_dir: str | Path,
    *,
    md5: str | None = None,
    keep_top: tuple[str, ...] = ("data",),
    progress: bool = True,
) -> Path:
    """Extract ``archive`` into ``target`` safely; return the completion marker's path.

    A complete extraction (marker present, files in place, same ``md5``) is not repeated. Every
    member is checked first (:func:`plan`); files are written under ``.<name>.part`` and
    renamed; CRC errors name the archive and the member; the marker (archive name, md5,
    target, every file and its size) is written last.

    Parameters
    ----------
    archive : the zip file.
    target : folder that receives the members (created when needed).
    marker_dir : folder of the completion markers.
    md5 : the archive's verified checksum, recorded in the marker.
    keep_top : first-level folder names that are never dropped.
    progress : tqdm bar of the bytes written (only on a terminal).

    Raises
    ------
    DataError naming the archive: not a zip, truncated, a CRC error, an unsafe member, or no
    free space for its content.
    """
    archive, target = Path(archive), Path(target)
    if is_extracted(archive, marker_dir, target, md5=md5):
        return marker_path(archive, marker_dir)
    members = plan(archive, keep_top=keep_top)
    marker = marker_path(archive, marker_dir)
    marker.unlink(missing_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    total = sum(m.info.file_size for m in members)
    free = shutil.disk_usage(target).free
    if total > free:
        raise DataError(archive, f"extracting needs {total / 1e9:.2f} GB, only {free / 1e9:.2f} GB free at {target}")
    files: dict[str, int] = {}
    with _open(archive) as z, _progress(total, f"extract {archive.name}", progress) as bar:
        for member in members:
            out = target / member.target
            if out.is_symlink():
                raise DataError(out, f"refusing to extract {archive.name} over a symbolic link")
            try:
                (out if member.is_dir else out.parent).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DataError(archive, f"cannot create the folder for member {member.info.filename!r} under {target} ({exc.strerror or exc})") from None
            if member.is_dir:
                continue
            tmp = out.with_name(f".{out.name}.part")
            try:
                with z.open(member.info) as src, open(tmp, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        dst.write(chunk)
                        bar.update(len(chunk))
                os.replace(tmp, out)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                raise DataError(archive, f"member {member.info.filename!r} is corrupt ({exc}); delete the archive and download it again") from None
            except OSError as exc:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                raise DataError(archive, f"cannot write member {member.info.filename!r} to {out} ({exc.strerror or exc})") from None
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                raise
            files[member.target] = member.info.file_size
    write_json(
        marker,
        {
            "marker_version": MARKER_VERSION,
            "archive": archive.name,
            "md5": md5,
            "extracted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": files,
        },
    )
    return marker


__all__ = ["Member", "plan", "extract", "is_extracted", "read_marker", "marker_path", "uncompressed_bytes", "MARKER_VERSION"]
