"""Inference: per-step probabilities of trained detectors, ensembles, and the paper's decisions.

:mod:`.sliding` (the sliding ensemble of section 2.5 over hop-one windows), :mod:`.fast` (the
same numbers without recomputing the shared steps of overlapping windows), :mod:`.postprocessing`
(the two thresholds, ensembles of timestep models, event lists) and :mod:`.detect` (detection
on any recording with a run's detector folders: ``rsed detect``); :mod:`.monitor` (the same
detectors applied incrementally to an endless stream: ``rsed monitor``) and :mod:`.stream_rule`
(its decision rule, the two thresholds on a stream).
"""
