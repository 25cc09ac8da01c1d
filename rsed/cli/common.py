"""What every command of ``rsed`` shares: the data root and the exit status of a command."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import RsedError


def data_root(value: str | None) -> Path:
    """``--root``, else ``$RSED_DATA``; a bad input when neither is given."""
    value = value or os.environ.get("RSED_DATA")
    if not value:
        raise RsedError(None, "no data root: pass --root DIR or set RSED_DATA")
    return Path(value)


class Reported(Exception):
    """A failure already printed to stderr (exit status 2, nothing more to say)."""


def exit_status(command, args) -> int:
    """Run ``command(args)``; a bad input or an interruption is one line on stderr and an exit status."""
    try:
        command(args)
    except Reported:
        return 2
    except RsedError as exc:
        print(f"rsed: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rsed: interrupted; finished stages are kept and a rerun resumes", file=sys.stderr)
        return 130
    return 0
