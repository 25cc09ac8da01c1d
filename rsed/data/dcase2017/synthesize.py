"""Synthesizing the subsets: the official synthesizer through dcase_util, or our mixer, and the choice between them.

The official synthesizer seeds one RNG per subset and draws class after class, so a class's
recipes depend on the classes before it: recipes are always generated for every class of the
split (sorted, the official order), and only the requested classes are mixed.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import types
from pathlib import Path
from typing import Iterable

from ...audio import audio_info
from ...config import MixtureConfig
from ...errors import AudioError, DataError
from ...fileio import write_text, write_yaml
from ...version import __version__
from ..layout import MIXTURE_DIR, MixtureSet, find_mixture_sets, mixture_folder, read_event_list, read_source_split, source_dir
from .disk import _root_lock, _state, check_free_space, file_md5, needed_bytes
from .package_list import CODE_DIR
from .shims import LEGACY_YAML, OFFICIAL_ANTI_CLIPPING, official_param_hash, official_parameters, official_synthesizer
from .subsets import DEFAULT_SUBSETS, Subset, _check_no_other_folder, _check_subsets, _complete_classes, check_sources

SYNTHESIZERS = ("auto", "dcase_util", "rsed")



def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"



def _synth_parameters(config: MixtureConfig) -> dict:
    p = official_parameters(config)
    return {"seed": p["seed"], "event_presence_prob": p["event_presence_prob"], "mixtures_per_class": p["mixtures_per_class"], "ebr_list": p["ebrs"]}


def _check_official_config(module: types.ModuleType, spec: Subset, core_py: Path) -> None:
    length = getattr(module, "BG_LENGTH_SECONDS", None)
    rate = getattr(module, "common_fs", None)
    if length is not None and float(length) != float(spec.config.length_seconds):
        raise DataError(core_py, f"makes {length} s mixtures but subset {spec.name!r} asks for {spec.config.length_seconds} s; use synthesizer='rsed' for other lengths")
    if rate is not None and int(rate) != int(spec.config.sample_rate):
        raise DataError(core_py, f"writes {rate} Hz mixtures but subset {spec.name!r} asks for {spec.config.sample_rate} Hz; use synthesizer='rsed'")
    if float(spec.config.anti_clipping_factor) != OFFICIAL_ANTI_CLIPPING:
        raise DataError(core_py, f"dcase_util mixes with anti-clipping factor {OFFICIAL_ANTI_CLIPPING}, subset {spec.name!r} asks for {spec.config.anti_clipping_factor}; use synthesizer='rsed'")


def _promote(root: Path, staging: Path, disk_subset: str, spec: Subset, param_hash: str, classes: list[str], provenance: dict) -> list[MixtureSet]:
    """Check the official output of ``disk_subset`` in ``staging`` and move it into ``root`` as ``spec.name``.

    Per class: the recipes and the event list must name the same ``mixtures_per_class``
    files, each a readable audio file; the audio is moved, the recipes written, and the event
    list written last. Raises a DataError or AudioError naming the file otherwise.
    """
    src = staging / "data" / "mixture_data" / disk_subset / param_hash
    if not src.is_dir():
        raise DataError(src, f"the official synthesizer wrote no folder for {disk_subset!r} with parameter hash {param_hash}")
    dst = mixture_folder(root, spec.name, param_hash)
    (dst / "meta").mkdir(parents=True, exist_ok=True)
    if (src / "parameters.yaml").is_file():
        write_text(dst / "parameters.yaml", (src / "parameters.yaml").read_text(encoding="utf-8"))
    write_yaml(dst / "meta" / "synthesizer.yaml", provenance)
    sets = []
    for cls in classes:
        recipes_path = src / "meta" / f"mixture_recipes_{disk_subset}_{cls}.yaml"
        events_path = src / "meta" / f"event_list_{disk_subset}_{cls}.csv"
        if not recipes_path.is_file():
            raise DataError(recipes_path, "the official synthesizer wrote no recipes for this class")
        recipes_text = recipes_path.read_text(encoding="utf-8")
        recipes = LEGACY_YAML.load(recipes_text) or []
        events = read_event_list(events_path)
        names = [r["mixture_audio_filename"] for r in recipes]
        if len(names) != spec.config.mixtures_per_class:
            raise DataError(recipes_path, f"holds {len(names)} recipes, expected {spec.config.mixtures_per_class}")
        if [e.filename for e in events] != names:
            raise DataError(events_path, "does not list the mixtures of the recipes, in order")
        for name in names:
            if audio_info(src / "audio" / name).frames == 0:
                raise AudioError(src / "audio" / name, "the official synthesizer wrote an empty mixture")
        mset = MixtureSet(root, spec.name, param_hash, cls)
        mset.event_list_path.unlink(missing_ok=True)
        mset.audio_dir.mkdir(parents=True, exist_ok=True)
        keep = set(names)
        for old in mset.audio_dir.glob(f"mixture_{disk_subset}_{cls}_*.wav"):
            if old.name not in keep:
                old.unlink()
        for name in names:
            os.replace(src / "audio" / name, mset.audio_dir / name)
        write_text(mset.recipes_path, recipes_text)
        write_text(mset.event_list_path, events_path.read_text(encoding="utf-8"))  # last: marks the class set complete
        sets.append(mset)
    return sets


def synthesize_official(
    root: str | Path,
    subsets: Iterable[Subset] = DEFAULT_SUBSETS,
    classes: Iterable[str] | None = None,
    *,
    progress: bool = True,
) -> list[MixtureSet]:
    """Synthesize ``subsets`` with the official synthesizer (code zip) run by dcase_util's ``synthesize()``.

    dcase_util maps its ``train`` and ``test`` parameter sets to the source splits ``devtrain``
    and ``devtest``; each call pairs one subset of each split. It runs in a staging folder
    ``<root>/.rsed/staging/`` (sources linked, not copied); afterwards every class is checked
    and moved to ``data/mixture_data/<subset>/<param_hash>/``, event list last. A subset whose
    name is not its split's (``train``) gets its meta files renamed to the subset; the audio
    keeps the official names (``mixture_devtrain_...``). Complete classes are skipped; an
    interrupted run starts its staging folder over.

    Parameters
    ----------
    root : data root with ``data/source_data`` and ``TUT_Rare_sound_events_mixture_synthesizer``.
    subsets : what to make; splits must be ``devtrain`` or ``devtest``; configs must match the
        synthesizer's fixed length, rate and anti-clipping factor.
    classes : limit to these classes (default: every class of the split's ``cv_setup``).
    progress : progress bars (on a terminal).

    Returns
    -------
    sets : one :class:`MixtureSet` per subset and class, in the order of ``subsets``.
    """
    from dcase_util.datasets import TUTRareSoundEvents_2017_DevelopmentSet

    root = Path(root)
    code_dir = root / CODE_DIR
    subsets = _check_subsets(subsets)
    for spec in subsets:
        if spec.split not in ("devtrain", "devtest"):
            raise ValueError(f"the official synthesizer draws from devtrain or devtest, not {spec.split!r} (subset {spec.name!r})")
    check_free_space(root, needed_bytes(root, [], subsets, classes)["synthesize"], "synthesizing the mixtures")
    all_classes = {split: sorted(read_source_split(root, split).classes) for split in {s.split for s in subsets}}
    checked = {split: check_sources(root, split, classes) for split in all_classes}
    wanted = {s.name: checked[s.split] for s in subsets}
    hashes = {s.name: (official_param_hash(s.config), official_param_hash(s.config, legacy=False)) for s in subsets}
    for s in subsets:
        _check_no_other_folder(root, s.name, hashes[s.name], wanted[s.name])
    train_like = [s for s in subsets if s.split == "devtrain"]
    test_like = [s for s in subsets if s.split == "devtest"]
    code_md5 = file_md5(code_dir / "core.py") if (code_dir / "core.py").is_file() else None
    show = progress and sys.stderr.isatty()
    with _root_lock(root):
        for run_id, (train_spec, test_spec) in enumerate(itertools.zip_longest(train_like, test_like)):
            slots = {"devtrain": train_spec, "devtest": test_spec}
            missing = {
                disk: [c for c in wanted[spec.name] if c not in _complete_classes(root, spec.name, hashes[spec.name])] if spec else []
                for disk, spec in slots.items()
            }
            if not any(missing.values()):
                continue
            recipe_classes = {disk: (all_classes[disk] if missing[disk] else []) for disk in slots}
            staging = _state(root, "staging", f"dcase_util-{run_id}")
            if staging.exists():
                shutil.rmtree(staging)  # an interrupted run: its output cannot be trusted
            (staging / "data").mkdir(parents=True)
            os.symlink(source_dir(root).resolve(), staging / "data" / "source_data", target_is_directory=True)
            params = {
                "train": _synth_parameters(train_spec.config if train_spec else MixtureConfig()),
                "test": _synth_parameters(test_spec.config if test_spec else MixtureConfig()),
            }
            dataset = TUTRareSoundEvents_2017_DevelopmentSet(local_path=str(staging), synth_parameters=params, show_progress_in_console=show, log_system_progress=False)
            for key, spec in (("train", train_spec), ("test", test_spec)):
                # Shim: the folder name as PyYAML < 5.1 computed it (the published hash).
                dataset.synth_parameters[key]["param_hash"] = official_param_hash(spec.config if spec else MixtureConfig())
            labels = sorted(set().union(*recipe_classes.values()))
            dataset.event_labels = lambda scene_label=None, _labels=labels: list(_labels)
            dataset.prepare()
            # dcase_util's own index (meta file, evaluation setup lists) is not used by rsed:
            # present files make synthesize() skip building it.
            for path in (
                dataset.meta_file,
                dataset.evaluation_setup_filename(setup_part="train", fold=1),
                dataset.evaluation_setup_filename(setup_part="test", fold=1),
                dataset.evaluation_setup_filename(setup_part="evaluate", fold=1),
            ):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).touch()
            with official_synthesizer(code_dir, recipe_classes, missing) as module:
                for spec in (train_spec, test_spec):
                    if spec is not None:
                        _check_official_config(module, spec, code_dir / "core.py")
                try:
                    dataset.synthesize()
                except (DataError, AudioError):
                    raise
                except Exception as exc:
                    raise DataError(code_dir / "core.py", f"the official synthesizer failed: {type(exc).__name__}: {exc}") from exc
            for disk, spec in slots.items():
                if spec is None or not missing[disk]:
                    continue
                param_hash = official_param_hash(spec.config)
                provenance = {
                    "synthesizer": "dcase_util",
                    "dcase_util_version": _version("dcase_util"),
                    "code_md5": code_md5,
                    "subset": spec.name,
                    "split": spec.split,
                    "subset_on_disk": disk,
                    "param_hash": param_hash,
                    "parameters": official_parameters(spec.config),
                    "shims": ["IPython stub at import", "legacy yaml (safe load, pre-5.1 dump)", "plain Python parameters (numpy.asscalar)", "classnames from the data"],
                    "rsed_version": __version__,
                }
                _promote(root, staging, disk, spec, param_hash, missing[disk], provenance)
            shutil.rmtree(staging)
    out = []
    for spec in subsets:
        found = {s.class_name: s for s in find_mixture_sets(root, spec.name, wanted[spec.name]) if s.param_hash in hashes[spec.name]}
        out.extend(found[c] for c in wanted[spec.name] if c in found)
    return out



def synthesize_rsed(root: str | Path, subsets: Iterable[Subset] = DEFAULT_SUBSETS, classes: Iterable[str] | None = None, *, progress: bool = True) -> list[MixtureSet]:
    """Synthesize ``subsets`` with :func:`rsed.data.mixing.synthesize` (resumable, any split)."""
    from ..mixing import mixture_param_hash, synthesize

    root = Path(root)
    out = []
    for spec in _check_subsets(subsets):
        wanted = check_sources(root, spec.split, classes)
        _check_no_other_folder(root, spec.name, {mixture_param_hash(spec.config, spec.split)}, wanted)
        need = needed_bytes(root, [], [spec], wanted)["synthesize"]
        check_free_space(root, need, f"synthesizing {spec.name!r}")
        out.extend(synthesize(root, spec.name, spec.split, spec.config, classes=wanted, progress=progress))
    return out



def choose_synthesizer(root: str | Path, synthesizer: str = "auto", subsets: Iterable[Subset] = ()) -> str:
    """Resolve ``synthesizer``: ``"auto"`` keeps the synthesizer that made existing subsets of
    ``subsets`` under ``root``, else picks ``"dcase_util"`` when the official code is extracted,
    else ``"rsed"``."""
    if synthesizer not in SYNTHESIZERS:
        raise ValueError(f"unknown synthesizer {synthesizer!r}; choose from {', '.join(SYNTHESIZERS)}")
    if synthesizer != "auto":
        return synthesizer
    from ..mixing import mixture_param_hash

    root = Path(root)
    if (root / MIXTURE_DIR).is_dir():
        for spec in subsets:
            found = {s.param_hash for s in find_mixture_sets(root, spec.name)}
            if found & {official_param_hash(spec.config), official_param_hash(spec.config, legacy=False)}:
                return "dcase_util"
            if mixture_param_hash(spec.config, spec.split) in found:
                return "rsed"
    return "dcase_util" if (root / CODE_DIR / "core.py").is_file() else "rsed"
