"""TUT Rare Sound Events 2017 (DCASE 2017 Task 2): from nothing to every subset the paper uses.

:func:`prepare` runs the whole path on a data root (``rsed data dcase2017 --root DIR``):

1. **Package lists** (:func:`packages`) come from dcase_util's
   ``TUTRareSoundEvents_2017_DevelopmentSet`` / ``..._EvaluationSet``: archive names, Zenodo
   addresses, sizes and md5 sums. ``base_url`` points them at a mirror (the published md5 sums
   still apply); ``checksums`` replaces the sums (the tests' fixture archives).
2. **Free disk space** is checked first, for everything still to do (:func:`needed_bytes`).
3. **Download** (:func:`download`): our own resumable HTTP client (``Range`` requests into
   ``<archive>.part``, retries, md5 check, tqdm bar on a terminal). dcase_util's
   ``RemoteFile.download`` restarts from zero, turns off TLS verification for the whole
   process after any ``IOError`` and leaves no resumable state, so it is not used (see
   ``docs/dcase2017.md``).
4. **Extraction** (:func:`extract`, :mod:`rsed.data.archives`): members are checked before
   anything is written (no ``..``, absolute paths or links), files are renamed into place and a
   completion marker per archive is written last. The first folder of each zip is dropped as
   dcase_util does, so the layout is dcase_util's ``local_path`` layout, both sets in one root.
5. **Synthesis** of ``devtrain`` and ``devtest`` (official default parameters) and of the
   paper's training set ``train`` (1000 mixtures per class from the devtrain sources, seed
   4242), either by the official synthesizer run through dcase_util (:func:`synthesize_official`,
   ``synthesizer="dcase_util"``) or by our mixer (:func:`rsed.data.mixing.synthesize`,
   ``synthesizer="rsed"``).
6. **The evaluation set** is used as shipped (pre-mixed, ``evaltest/<hash>``); its event lists
   are checked against the audio (:func:`evaluation_sets`).

Both synthesizers leave ``data/mixture_data/<subset>/<param_hash>/{audio,meta}`` with the event
list ``meta/event_list_<subset>_<class>.csv`` written last, so later stages cannot tell who
made a subset. Class names always come from the data (``cv_setup`` and the event lists).

Modules, in the order of that path: :mod:`.package_list` (the published sets, checksums),
:mod:`.subsets` (the subsets to make and the checks of sources and the evaluation set),
:mod:`.disk` (state under the root, lock, free space), :mod:`.downloading`,
:mod:`.extraction`, :mod:`.shims` (the official synthesizer on current libraries; its Notes),
:mod:`.synthesize` (both synthesizers) and :mod:`.pipeline` (:func:`prepare`).
"""

from .disk import check_free_space, needed_bytes, verify
from .downloading import download, fetch
from .extraction import check_extracted, extract
from .package_list import CODE_DIR, DEVELOPMENT, EVALTEST_HASH, EVALUATION, SETS, Package, packages, read_checksums
from .pipeline import cli_prepare, prepare
from .shims import LEGACY_YAML, OFFICIAL_DEFAULT_HASH, official_param_hash, official_parameters, official_synthesizer
from .subsets import DEFAULT_SUBSETS, TRAIN_SEED, Subset, check_sources, evaluation_sets
from .synthesize import SYNTHESIZERS, choose_synthesizer, synthesize_official, synthesize_rsed

__all__ = [
    "DEVELOPMENT",
    "EVALUATION",
    "SETS",
    "SYNTHESIZERS",
    "OFFICIAL_DEFAULT_HASH",
    "EVALTEST_HASH",
    "CODE_DIR",
    "TRAIN_SEED",
    "Subset",
    "DEFAULT_SUBSETS",
    "Package",
    "packages",
    "needed_bytes",
    "check_free_space",
    "fetch",
    "download",
    "verify",
    "extract",
    "check_extracted",
    "check_sources",
    "evaluation_sets",
    "official_parameters",
    "official_param_hash",
    "official_synthesizer",
    "LEGACY_YAML",
    "synthesize_official",
    "synthesize_rsed",
    "choose_synthesizer",
    "prepare",
    "read_checksums",
    "cli_prepare",
]
