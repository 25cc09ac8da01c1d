"""rsed: rare sound event detection with a convolutional recurrent network.

A reproduction of Amiriparian et al., "Deep Convolutional Recurrent Neural Network
for Rare Acoustic Event Detection" (DAGA 2018) on DCASE 2017 Task 2.

The subpackages follow the data, bottom to top; a module imports only from its own stage or
a lower one, and nothing imports the command line (.importlinter, docs/architecture.md):

    config, errors, fileio, parallel, audio, audio_stream, records, imports, version   plumbing
    data/        sources -> mixtures: layout, mixing, the mini data, the DCASE 2017 download
    features/    mixtures -> log-mel, steps, windows; the HDF5 cache
    models/      the CRNN, CNN and FNN builders, their layers, detector folders
    training/    windows -> trained detectors (resumable, distributed)
    inference/   detectors -> per-step probabilities -> ensembles -> events; rsed detect, rsed monitor
    evaluation/  events -> scores -> tables; rsed score, error analysis, figures
    run/         rsed reproduce: rows, run folder, members, predictions, results
    cli/         the rsed command and the experiments/ scripts' entry point

``rsed.load_detector(models)`` applies trained detectors from Python (rsed/inference/detect.py).
"""

import os
import sys

from .imports import wrap_import
from .version import __version__

__all__ = ["__version__", "load_detector", "register_keras_objects"]

# TensorFlow's CPU allocator hands big tensors back to the OS after every step and faults them
# in again on the next (a quarter of training time went to the kernel on a 2-core machine); its
# BFC allocator keeps and reuses them: 1.7x faster training, same results (docs/benchmarks.md).
# Read when TensorFlow first allocates, so it must be set before TensorFlow is imported; an
# explicit setting in the environment wins.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")


# ------------------------------------------------------------------------------------------
# Saved models load with Keras alone after ``import rsed``
# ------------------------------------------------------------------------------------------
# A ``model.keras`` names rsed's layers, losses and metrics by their registered names
# ("rsed>StepDistributed", ...); Keras finds them only once they are registered, which
# happens when rsed.models.layers and rsed.models.losses are imported. ``import rsed`` must stay
# cheap (no TensorFlow), so it registers them now only when Keras is already imported, and
# otherwise right after Keras is imported, by whoever imports it (rsed/imports.py):
# ``import rsed; import keras; keras.saving.load_model(path)`` works in either order, with
# ``safe_mode=True`` and ``compile=True`` (docs/architecture.md).


def register_keras_objects() -> None:
    """Register rsed's custom layers, losses and metrics with Keras (imports Keras)."""
    from .models import layers, losses  # noqa: F401  defining them registers them


def _import_then_register(execute) -> None:
    execute()
    try:
        register_keras_objects()
    except Exception as exc:  # pragma: no cover - never let registration break importing Keras
        import warnings

        warnings.warn(f"rsed could not register its Keras objects ({exc}); import rsed.models.layers before loading rsed models", stacklevel=2)


if "keras" in sys.modules:
    register_keras_objects()
else:
    wrap_import("keras", _import_then_register)


def __getattr__(name: str):
    """``rsed.load_detector``: imported when first used (rsed.inference.detect.load)."""
    if name == "load_detector":
        from .inference.detect import load

        return load
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
