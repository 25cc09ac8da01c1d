"""Evaluation: scores as the challenge computed them, the look-back chosen on validation, tables, analysis and plots.

:mod:`.scoring` (sed_eval, onset only, 500 ms collar), :mod:`.lookback` (the onset look-back
that scores best on the validation subset), :mod:`.tables` (Tables 2-4 beside the paper),
:mod:`.analysis` (per-file error analysis of a finished run, for the notebooks) and
:mod:`.plots` (Figure 4, onset-error histograms). Nothing here trains or loads a model.
"""
