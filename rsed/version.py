"""The version of rsed (read by setup.py; ``rsed.__version__`` re-exports it)."""

__version__ = "0.1.0"
