"""rsed: rare sound event detection with a convolutional recurrent network.

A reproduction of Amiriparian et al., "Deep Convolutional Recurrent Neural Network
for Rare Acoustic Event Detection" (DAGA 2018) on DCASE 2017 Task 2.

The subpackages follow the data, bottom to top; a module imports only from its own stage or
a lower one, and nothing imports the command line (.importlinter, docs/architecture.md):

    config, errors, fileio, parallel, audio, audio_stream, records   settings and plumbing every stage uses
    data/        sources -> mixtures: layout, mixing, the mini data, the DCASE 2017 download
    features/    mixtures -> log-mel, steps, windows; the HDF5 cache
    models/      the CRNN, CNN and FNN builders, their layers, detector folders
    training/    windows -> trained detectors (resumable, distributed)
    inference/   detectors -> per-step probabilities -> ensembles -> events; rsed detect, rsed monitor
    evaluation/  events -> scores -> tables; error analysis, figures
    run/         rsed reproduce: rows, run folder, members, predictions, results
    cli/         the rsed command and the experiments/ scripts' entry point
"""

import os

__version__ = "0.1.0"

# TensorFlow's CPU allocator hands big tensors back to the OS after every step and faults them
# in again on the next (a quarter of training time went to the kernel on a 2-core machine); its
# BFC allocator keeps and reuses them: 1.7x faster training, same results (docs/benchmarks.md).
# Read when TensorFlow first allocates, so it must be set before TensorFlow is imported; an
# explicit setting in the environment wins.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
