"""Atomic file writes: a crash never leaves a file that looks complete."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import yaml

from .errors import RsedError

#: Write failures a user can act on (space, quota, permissions, read-only file system).
_USER_WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows.

    Linux reports it in ``/proc/self/status`` (since 4.7); elsewhere it is read by setting and
    restoring it under a lock (``os.umask`` can only be read by changing it, which is not
    thread-safe against other code that creates files at that instant).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open()`` would give a new file: ``0o666`` less the umask (0644 under umask 022)."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    The rename is atomic on POSIX file systems, so readers see either the old file or the
    complete new one, also when the process is killed. The file gets the mode a plain
    ``open()`` would give it (:func:`file_mode`: 0644 under umask 022), not ``mkstemp``'s 0600,
    so colleagues on a shared machine can read what rsed writes when the umask allows it. On an exception the temporary file is
    removed and ``path`` is untouched; a killed process leaves it (:func:`remove_stale_parts`).
    Nothing is fsync'ed: a power cut (not a kill) may still lose the newest files.

    Raises an :class:`~rsed.errors.RsedError` naming the file when it cannot be written for a
    reason the user can fix: no space, over quota, a read-only file system, no permission.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise RsedError(path, f"cannot write here ({exc.strerror or exc})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, file_mode() | (0o111 & ~current_umask() if tmp_path.is_dir() else 0))
        os.replace(tmp_path, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if exc.errno in _USER_WRITE_ERRORS:
            raise RsedError(path, f"cannot write ({exc.strerror or exc})") from None
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def remove_stale_parts(path: str | Path) -> list[Path]:
    """Delete the temporary files that atomic writes of ``path`` left behind when killed; return them.

    A killed process cannot clean up, so its ``.<name>.<random>.part`` files stay. They can
    never be taken for ``path`` itself, but they waste space (a half-built feature cache may be
    gigabytes). Call this only while no other process is writing ``path``.
    """
    path = Path(path)
    removed = []
    for part in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
            removed.append(part)
    return removed


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_yaml(path: str | Path, data) -> None:
    """Write ``data`` as block-style YAML atomically."""
    write_text(path, yaml.safe_dump(data, default_flow_style=False, sort_keys=False))


def write_json(path: str | Path, data) -> None:
    """Write ``data`` as indented JSON atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
