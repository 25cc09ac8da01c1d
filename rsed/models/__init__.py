"""The models: the paper's CRNN, the CNN and FNN of the comparison, their layers, and trained detectors on disk.

:mod:`.builders` (plain functions returning uncompiled Keras models), :mod:`.layers` (the custom
layers) and :mod:`.losses` (the custom metric), registered under package ``rsed`` so saved
``model.keras`` files load with ``safe_mode=True`` and ``compile=True``, and :mod:`.detector` (a
trained detector as a self-describing folder). The builders are the stage's public face:
``from rsed.models import build_crnn``. They are imported when first used, so reading a
detector's description (``rsed.models.detector.load_spec``) does not import TensorFlow.
"""

__all__ = ["build_crnn", "build_cnn", "build_fnn", "describe"]


def __getattr__(name: str):
    if name in __all__:
        from . import builders

        return getattr(builders, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
