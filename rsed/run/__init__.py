"""The whole pipeline on a data root in the mixture layout: features, training, detection, scores, tables.

A *row* is one line of the paper's Tables 2-4 (an :class:`~rsed.run.rows.Experiment`: an architecture and
its timestep ensemble per class); :func:`~rsed.run.rows.paper_rows` lists them all. Rows run into one *run
folder* and share its ``features/``, ``models/`` and ``predictions/``: each (class,
architecture, tau) detector is trained once, and a Table 2 ensemble reuses the single-tau
models of Table 3. After every row the tables are rebuilt from the row records in
``results/rows/``.

Stages are resumable: feature caches are keyed by their parameters and inputs, a detector
whose configuration, training data and rsed version are unchanged is not retrained, and every
output file is written atomically. Nothing is lost: ``run.json`` holds the run's
configuration, and a run folder holding another configuration is refused unless
``overwrite`` is given; a detector made stale by changed data or code is moved to
``.superseded/`` beside it before it is retrained. Model selection uses the validation
subset only; test subsets are predicted once at the end.

Modules, in the order a row runs: :mod:`.rows` (the rows and their configuration),
:mod:`.folder` (``run.json``, detector keys and reuse), :mod:`.members` (training or reusing
each detector), :mod:`.predictions` (saved per-step probabilities, ensembles),
:mod:`.pipeline` (:func:`~rsed.run.pipeline.run`, :func:`~rsed.run.pipeline.run_rows`) and
:mod:`.results` (row records, tables, the run record). The command line (``rsed reproduce``,
``experiments/``) is in :mod:`rsed.cli`.
"""
