"""Table 3 row: the CRNN for babycry with tau = 9 steps, trained (or reused) and scored alone.

Usage: python experiments/table3_crnn_babycry_t9.py --root DATA --out RUN [--schedule short|paper] [--classes C ...]
(the same as ``rsed reproduce --rows crnn_babycry_t9 ...``; rows share the models of the run folder RUN).
"""

import sys

from rsed.cli import main_for_row

ROW = "crnn_babycry_t9"


def main(argv=None) -> int:
    return main_for_row(ROW, argv)


if __name__ == "__main__":
    sys.exit(main())
