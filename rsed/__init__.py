"""rsed: rare sound event detection with a convolutional recurrent network.

A reproduction of Amiriparian et al., "Deep Convolutional Recurrent Neural Network
for Rare Acoustic Event Detection" (DAGA 2018) on DCASE 2017 Task 2.
"""

import os

__version__ = "0.1.0"

# TensorFlow's CPU allocator hands big tensors back to the OS after every step and faults them
# in again on the next (a quarter of training time went to the kernel on a 2-core machine); its
# BFC allocator keeps and reuses them: 1.7x faster training, same results (docs/benchmarks.md).
# Read when TensorFlow first allocates, so it must be set before TensorFlow is imported; an
# explicit setting in the environment wins.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
