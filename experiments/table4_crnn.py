"""Table 4 row CRNN: every class with its Table 2 timestep ensemble.

Usage: python experiments/table4_crnn.py --root DATA --out RUN [--schedule short|paper] [--classes C ...]
(the same as ``rsed reproduce --rows crnn ...``; rows share the models of the run folder RUN).
"""

import sys

from rsed.cli import main_for_row

ROW = "crnn"


def main(argv=None) -> int:
    return main_for_row(ROW, argv)


if __name__ == "__main__":
    sys.exit(main())
