"""The ``rsed`` command line: data preparation, the whole reproduction, and detection on any recording or stream.

Expected failures (a missing file, bad audio, a malformed event list) print one line naming
the file and the reason and exit with status 2; nothing here holds logic of its own. The top
of the package: it may import every stage, and no module of rsed imports it (.importlinter).
:func:`main_for_row` is the entry point of each script in ``experiments/``.

:mod:`.commands` (the parser, ``rsed data``, :func:`main`), :mod:`.reproduce` (``rsed
reproduce`` and the experiments/ scripts), :mod:`.detect` (``rsed detect``), :mod:`.monitor`
(``rsed monitor``), :mod:`.common` (the data root, :func:`exit_status`).
"""

from .commands import build_parser, main
from .common import exit_status
from .detect import plot_file, plot_path, progress
from .reproduce import add_reproduce_arguments, experiments_from_args, main_for_row, print_summary, reproduce_from_args

__all__ = [
    "add_reproduce_arguments",
    "build_parser",
    "exit_status",
    "experiments_from_args",
    "main",
    "main_for_row",
    "plot_file",
    "plot_path",
    "print_summary",
    "progress",
    "reproduce_from_args",
]
