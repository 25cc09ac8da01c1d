"""The models: the paper's CRNN, the CNN and FNN of the comparison, their layers, and trained detectors on disk.

:mod:`.builders` (plain functions returning uncompiled Keras models), :mod:`.layers` (the custom
layers, registered under package ``rsed`` so saved ``model.keras`` files load with
``safe_mode=True``) and :mod:`.detector` (a trained detector as a self-describing folder).
The builders are the stage's public face: ``from rsed.models import build_crnn``.
"""

from .builders import build_cnn, build_crnn, build_fnn, describe

__all__ = ["build_crnn", "build_cnn", "build_fnn", "describe"]
