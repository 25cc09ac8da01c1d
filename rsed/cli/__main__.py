"""``python -m rsed.cli``: the ``rsed`` command line, as ``python -m rsed``."""

import sys

from .commands import main

sys.exit(main())
