"""Errors a user can act on: each names the file (or folder) and the reason."""

from __future__ import annotations

from pathlib import Path


class RsedError(Exception):
    """Base class for expected, user-facing failures.

    The command line prints ``str(error)`` without a traceback, so the message must
    say which file is at fault and why.
    """

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path is not None else reason)

    def __reduce__(self):
        # Process pools pickle exceptions; rebuild from (path, reason), not from the message.
        return (type(self), (self.path, self.reason))


class DataError(RsedError):
    """A data root, layout file or event list is missing or malformed."""


class AudioError(RsedError):
    """An audio file cannot be read or holds unusable samples."""


class CacheError(RsedError):
    """A feature cache or model folder is unreadable or was written by another version."""
