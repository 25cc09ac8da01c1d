"""What every command of ``rsed`` shares: the data root, one-line errors, help with defaults, quiet TensorFlow, exit statuses."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from ..errors import RsedError
from ..imports import wrap_import


def _import_with_stderr_captured(execute) -> None:
    """Run TensorFlow's import with file descriptor 2 captured: its C++ libraries print their
    start-up lines (oneDNN, CUDA stubs, absl) there, before any log level applies. Shown only
    when the import fails."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            execute()
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quiet_tensorflow() -> None:
    """Silence TensorFlow's start-up and C++ log lines (the cuInit error included) for this process.

    Sets ``TF_CPP_MIN_LOG_LEVEL=3`` and captures stderr while TensorFlow is imported (whenever
    that happens); ``--verbose`` skips both.
    """
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    wrap_import("tensorflow", _import_with_stderr_captured)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help, unless it has none (None, False) or the help says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS) or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


def data_root(value: str | None) -> Path:
    """``--root``, else ``$RSED_DATA``; a bad input when neither is given."""
    value = value or os.environ.get("RSED_DATA")
    if not value:
        raise RsedError(None, "no data root: pass --root DIR or set RSED_DATA")
    return Path(value)


class Reported(Exception):
    """A failure already printed to stderr (exit status ``status``, nothing more to say)."""

    def __init__(self, status: int = 2):
        super().__init__(status)
        self.status = status


def note(message: str) -> None:
    print(f"rsed: note: {message}", file=sys.stderr)


def progress(iterable, total: int, desc: str):
    """A tqdm bar on stderr when it is a terminal and there is more than one item; the iterable itself otherwise."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="file", disable=not (total > 1 and sys.stderr.isatty()))


def add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up and log lines")


def exit_status(command, args) -> int:
    """Run ``command(args)``; a bad input or an interruption is one line on stderr and an exit status."""
    try:
        command(args)
    except Reported as reported:
        return reported.status
    except RsedError as exc:
        print(f"rsed: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rsed: interrupted; finished stages are kept and a rerun resumes", file=sys.stderr)
        return 130
    return 0
