"""``python -m rsed``: the ``rsed`` command line."""

import sys

from .cli import main

sys.exit(main())
