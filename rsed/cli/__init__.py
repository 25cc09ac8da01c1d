"""The ``rsed`` command line: data preparation, the whole reproduction, detection on any recording or stream, scoring.

Expected failures (a missing file, bad audio, a malformed event list, a bad option) print one
line naming the file and the reason and exit with status 2; nothing here holds logic of its own.
TensorFlow's start-up lines are silenced unless ``--verbose``, and the arguments and input files
of ``rsed detect`` are checked before TensorFlow is imported. The top of the package: it may
import every stage, and no module of rsed imports it (.importlinter). :func:`main_for_row` is
the entry point of each script in ``experiments/``.

:mod:`.commands` (the parser, ``rsed data``, :func:`main`), :mod:`.reproduce` (``rsed
reproduce`` and the experiments/ scripts), :mod:`.detect` (``rsed detect`` and ``rsed score``),
:mod:`.monitor` (``rsed monitor``), :mod:`.common` (the data root, one-line errors, help with
defaults, quiet TensorFlow, :func:`exit_status`).
"""

from .commands import build_parser, main
from .common import exit_status, progress, quiet_tensorflow
from .detect import plot_file, plot_path
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
    "quiet_tensorflow",
    "reproduce_from_args",
]
