"""Table 4 row FNN: the DCASE 2017 challenge baseline (40 mel bands, 5-frame context, MLP, median filter).

Usage: python experiments/table4_fnn.py --root DATA --out RUN [--schedule short|paper] [--classes C ...]
(the same as ``rsed reproduce --rows fnn ...``; rows share the models of the run folder RUN).
"""

import sys

from rsed.cli import main_for_row

ROW = "fnn"


def main(argv=None) -> int:
    return main_for_row(ROW, argv)


if __name__ == "__main__":
    sys.exit(main())
