"""Row beyond the paper, CRNN+ (``crnn_plus``): the project's recommended detector (issue 17).

The CRNN trained on clips mixed anew each epoch from the training recordings, validated on
mixtures of held-out recordings, with t1 and the look-back chosen there (docs/interpretation.md).
Usage: python experiments/extra_crnn_plus.py --root DATA --out RUN [--schedule short|paper] [--classes C ...]
(the same as ``rsed reproduce --rows crnn_plus ...``; it needs the data root's source_data).
"""

import sys

from rsed.cli import main_for_row

ROW = "crnn_plus"


def main(argv=None) -> int:
    return main_for_row(ROW, argv)


if __name__ == "__main__":
    sys.exit(main())
