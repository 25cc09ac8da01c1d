"""Table 4 row CNN: the CRNN without its recurrent layers, same hyperparameters and timestep ensembles.

Usage: python experiments/table4_cnn.py --root DATA --out RUN [--schedule short|paper] [--classes C ...]
(the same as ``rsed reproduce --rows cnn ...``; rows share the models of the run folder RUN).
"""

import sys

from rsed.cli import main_for_row

ROW = "cnn"


def main(argv=None) -> int:
    return main_for_row(ROW, argv)


if __name__ == "__main__":
    sys.exit(main())
