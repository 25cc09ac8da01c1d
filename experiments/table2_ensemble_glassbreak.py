"""Table 2 row: the glassbreak timestep ensemble t3, averaging the per-step probabilities of the Table 3 models before the thresholds.

Usage: python experiments/table2_ensemble_glassbreak.py --root DATA --out RUN [--schedule short|paper] [--classes C ...]
(the same as ``rsed reproduce --rows ensemble_glassbreak ...``; rows share the models of the run folder RUN).
"""

import sys

from rsed.cli import main_for_row

ROW = "ensemble_glassbreak"


def main(argv=None) -> int:
    return main_for_row(ROW, argv)


if __name__ == "__main__":
    sys.exit(main())
