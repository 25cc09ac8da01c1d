"""Table 2 row: the babycry timestep ensemble (t5 + t9 + t50)/3, averaging the per-step probabilities of the Table 3 models before the thresholds.

Usage: python experiments/table2_ensemble_babycry.py --root DATA --out RUN [--schedule short|paper] [--classes C ...]
(the same as ``rsed reproduce --rows ensemble_babycry ...``; rows share the models of the run folder RUN).
"""

import sys

from rsed.cli import main_for_row

ROW = "ensemble_babycry"


def main(argv=None) -> int:
    return main_for_row(ROW, argv)


if __name__ == "__main__":
    sys.exit(main())
