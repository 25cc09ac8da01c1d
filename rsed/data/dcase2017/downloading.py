"""Downloading the archives: our own resumable HTTP client (``Range`` requests, retries, md5 check)."""

from __future__ import annotations

import http.client
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable, Mapping

from ...errors import DataError
from ...fileio import write_json
from ...version import __version__
from .. import archives
from .disk import _CHUNK, _extract_target, _marker_dir, _root_lock, _state, check_free_space, file_md5, needed_bytes, verify
from .package_list import SETS, _all_packages


def _progress_bar(total: int | None, initial: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not (enabled and sys.stderr.isatty()))


def _size_mismatch(expected: int, actual: int, where: str) -> str:
    return (
        f"size mismatch: expected {expected} bytes, {where} {actual}; nothing was kept "
        "(for archives other than the published ones, give their md5 sums with --checksums)"
    )


def fetch(url: str, dest: str | Path, *, size: int | None = None, md5: str | None = None, retries: int = 3, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` resumably and check it; return ``dest``.

    Bytes go to ``<dest>.part``; an existing ``.part`` is continued with an HTTP ``Range``
    request (a server that ignores ranges makes it start over). A connection that breaks or
    ends early is resumed up to ``retries`` times; after that a DataError says how far it got
    and the next call continues from there. A server that announces another length than
    ``size`` (``Content-Length``, or the total of ``Content-Range``) is a size mismatch at once,
    not an interrupted download. The finished file is checked against ``size`` and ``md5`` and
    only then renamed to ``dest``; ``size=None`` leaves the check to ``md5``.

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
                announced = None  # the whole file's length as the server states it
                if have and status == 206:
                    match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
                    if not match or int(match[1]) != have:
                        raise DataError(dest, f"server answered range {response.headers.get('Content-Range')!r} to a request from byte {have}")
                    if match[3] != "*":
                        announced = int(match[3])
                    mode = "ab"
                else:  # 200: the whole file (a server without range support starts over)
                    have, mode = 0, "wb"
                    length = response.headers.get("Content-Length")
                    if length is not None:
                        announced = int(length)
                if announced is not None:
                    if size is not None and announced != size:
                        part.unlink(missing_ok=True)
                        raise DataError(dest, _size_mismatch(size, announced, f"the server at {url} has"))
                    expected_total = announced
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
        raise DataError(dest, _size_mismatch(size, got, "the download has"))
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
