"""Everything in order: :func:`prepare` (download, extract, synthesize, check) and ``rsed data dcase2017``'s summary."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from ...errors import DataError
from ..layout import MixtureSet, mixture_folder, read_event_list
from .disk import _gb, check_free_space, needed_bytes
from .downloading import download
from .extraction import check_extracted, extract
from .package_list import DEVELOPMENT, EVALUATION, SETS, _all_packages, _check_sets, read_checksums
from .subsets import DEFAULT_SUBSETS, Subset, _check_subsets, evaluation_sets
from .synthesize import choose_synthesizer, synthesize_official, synthesize_rsed


def prepare(
    root: str | Path,
    *,
    sets: Iterable[str] = SETS,
    synthesizer: str = "auto",
    classes: Iterable[str] | None = None,
    subsets: Iterable[Subset] | None = None,
    base_url: str | None = None,
    checksums: Mapping | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    progress: bool = True,
) -> list[MixtureSet]:
    """Download, verify, extract and synthesize everything the paper uses under ``root``.

    Every stage is resumable and skips what is complete; free disk space for all remaining
    stages is checked before anything is written.

    Parameters
    ----------
    root : the data root (created); holds the archives, ``data/`` and ``.rsed/``.
    sets : ``"development"`` (sources, synthesized subsets) and/or ``"evaluation"`` (pre-mixed).
    synthesizer : ``"dcase_util"`` (the official synthesizer through dcase_util), ``"rsed"``
        (our mixer) or ``"auto"`` (the one that made the subsets already there, else dcase_util
        when the code zip is extracted, else rsed).
    classes : limit synthesis and the returned sets to these classes (default: all in the data).
    subsets : the subsets to synthesize (default :data:`DEFAULT_SUBSETS`, read at call time).
    base_url, checksums : see :func:`packages`.
    retries, timeout : per-download retries of a broken connection, socket timeout (s).
    progress : progress bars (on a terminal).

    Returns
    -------
    sets : the synthesized subsets' :class:`MixtureSet` objects, then ``evaltest``'s.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    sets = _check_sets(sets)
    subsets = _check_subsets(DEFAULT_SUBSETS if subsets is None else subsets) if DEVELOPMENT in sets else []
    classes = None if classes is None else list(classes)
    pkgs = _all_packages(sets, base_url, checksums)
    need = needed_bytes(root, pkgs, subsets, classes)
    check_free_space(root, sum(need.values()), "preparing DCASE 2017 Task 2 (" + ", ".join(f"{k} {_gb(v)}" for k, v in need.items()) + ")")
    download(root, sets=sets, base_url=base_url, checksums=checksums, retries=retries, timeout=timeout, progress=progress)
    extract(root, sets=sets, base_url=base_url, checksums=checksums, progress=progress)
    out: list[MixtureSet] = []
    if DEVELOPMENT in sets:
        check_extracted(root, DEVELOPMENT, base_url=base_url, checksums=checksums)
        chosen = choose_synthesizer(root, synthesizer, subsets)
        if chosen == "dcase_util":
            out += synthesize_official(root, subsets, classes, progress=progress)
        else:
            out += synthesize_rsed(root, subsets, classes, progress=progress)
    if EVALUATION in sets:
        check_extracted(root, EVALUATION, base_url=base_url, checksums=checksums)
        out += evaluation_sets(root, classes)
    return out



def cli_prepare(
    root: Path,
    *,
    classes: list[str] | None = None,
    synthesizer: str = "auto",
    skip_evaluation: bool = False,
    base_url: str | None = None,
    checksums: str | None = None,
) -> list[MixtureSet]:
    """``rsed data dcase2017``: :func:`prepare` and a summary line per subset on stdout."""
    sums = read_checksums(checksums) if checksums else None
    sets = (DEVELOPMENT,) if skip_evaluation else SETS
    try:
        result = prepare(root, sets=sets, synthesizer=synthesizer, classes=classes, base_url=base_url, checksums=sums)
    except ValueError as exc:  # a misspelt option value: no traceback
        raise DataError(None, str(exc)) from None
    by_subset: dict[tuple[str, str], list[MixtureSet]] = {}
    for mset in result:
        by_subset.setdefault((mset.subset, mset.param_hash), []).append(mset)
    for (subset, param_hash), msets in by_subset.items():
        n = sum(len(read_event_list(m.event_list_path)) for m in msets)
        names = ", ".join(m.class_name for m in msets)
        print(f"{subset}/{param_hash}: {n} mixtures ({names}) in {mixture_folder(root, subset, param_hash)}")
    return result
