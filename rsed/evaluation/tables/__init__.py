"""The paper's Tables 2, 3 and 4, rebuilt from a run's row records, each beside the paper.

- Table 2 (:mod:`.table2`): each class's timestep ensemble, with the ER and F1 of every member
  model and of the ensemble (the paper lists the ensembles only and prints no scores for them);
- Table 3 (:mod:`.table3`): the CRNN hyperparameters per class as the paper prints them, ours
  beside the paper's, with what the paper leaves open (hop, frames per step, batches per epoch,
  positive fraction, prior correction, onset rule), then one line per row of the run with its
  settings, choices and scores;
- Table 4 (:mod:`.table4`): per-class test ER and class-averaged validation, dev and test ER of
  the CRNN, CNN and FNN rows. Each cell reads ``ours (ours - paper)`` only where our subset is
  the paper's (devtest for 'dev', the DCASE evaluation set for 'test'); on the mini data or a
  root without ``evaltest`` the paper's values stand beside ours, not subtracted
  (:func:`~.common.comparable`).

``build_table*`` turn row records (``results/rows/*.json``, written by
:mod:`rsed.run.results`) into plain structures; ``render_table*`` and ``table*_csv`` print them.
"""

from .common import PAPER_TABLE4, SHORT_NAMES, comparable, paper_label
from .table2 import build_table2, ensemble_text, render_table2, table2_csv
from .table3 import PAPER_TABLE3, build_table3, render_table3, table3_csv
from .table4 import build_table4, render_table4, table4_columns, table4_csv

__all__ = [
    "PAPER_TABLE3",
    "PAPER_TABLE4",
    "SHORT_NAMES",
    "build_table2",
    "build_table3",
    "build_table4",
    "comparable",
    "ensemble_text",
    "paper_label",
    "render_table2",
    "render_table3",
    "render_table4",
    "table2_csv",
    "table3_csv",
    "table4_columns",
    "table4_csv",
]
