"""Table 3 ablation row: the schedule's CRNN (crnn_demo in the short schedule, crnn in the paper's)
trained on naturally sampled batches without prior correction, its detectors in RUN/models/natural/.

Usage: python experiments/table3_crnn_natural.py --root DATA --out RUN [--schedule short|paper] [--classes C ...]
(the same as ``rsed reproduce --rows crnn_natural ...``; the paper names no remedy for the class
imbalance, so this row shows what the oversampling and the prior correction of the other rows do).
"""

import sys

from rsed.cli import main_for_row

ROW = "crnn_natural"


def main(argv=None) -> int:
    return main_for_row(ROW, argv)


if __name__ == "__main__":
    sys.exit(main())
