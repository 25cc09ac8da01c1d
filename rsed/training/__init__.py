"""Training: windows of steps into Keras fits that resume after a kill, on one device or several.

:mod:`.fit` (one detector: batches through tf.data, Adam with Keras-2 decay, early stopping,
prior correction, determinism), :mod:`.streaming` (training windows read straight from the HDF5
feature cache), :mod:`.resume` (per-epoch snapshots; a killed run resumes after its last epoch),
:mod:`.distribute` (distribution strategies, mixed precision), :mod:`.plots` (training curves)
and :mod:`.baseline` (the challenge baseline's frame batches and fit).
"""
