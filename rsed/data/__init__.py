"""Data: the on-disk layout of DCASE 2017 Task 2, the mixer, the embedded mini sources and the real download.

:mod:`.layout` (reading and writing the layout), :mod:`.archives` (safe extraction),
:mod:`.mixing` (the mixture recipe), :mod:`.mini` (the embedded mini dataset) and
:mod:`.dcase2017` (from nothing to every subset the paper uses).
"""
