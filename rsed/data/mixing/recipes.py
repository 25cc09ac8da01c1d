"""Step 1 of the mixture recipe: which mixtures hold an event, which event and background, where and how loud.

Also the parameter hash that names a mixture folder and the event-list line of a recipe
(the package docstring of :mod:`rsed.data.mixing` has the whole recipe and its Notes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
import yaml

from ...config import MixtureConfig
from ...errors import DataError
from ..layout import SOURCE_DIR, MixtureEvent, SourceSplit

#: Version of this mixer; part of the parameter hash, so a changed mixer writes a new folder.
MIXER_VERSION = 1

_NAME_RE = re.compile(r"^[A-Za-z0-9]+$")



def _check_config(config: MixtureConfig) -> None:
    """Raise ``ValueError`` for settings the recipe cannot use."""
    if not isinstance(config.seed, (int, np.integer)) or config.seed < 0:
        raise ValueError(f"MixtureConfig.seed must be a non-negative integer, got {config.seed!r}")
    if config.mixtures_per_class < 1:
        raise ValueError(f"MixtureConfig.mixtures_per_class must be >= 1, got {config.mixtures_per_class}")
    if not 0.0 <= config.event_presence_prob <= 1.0:
        raise ValueError(f"MixtureConfig.event_presence_prob must be in [0, 1], got {config.event_presence_prob}")
    if len(config.ebrs) == 0 or not all(math.isfinite(float(e)) for e in config.ebrs):
        raise ValueError(f"MixtureConfig.ebrs must be a non-empty list of finite dB values, got {config.ebrs!r}")
    if not config.length_seconds > 0 or not config.sample_rate > 0:
        raise ValueError("MixtureConfig.length_seconds and sample_rate must be positive")
    if not 0.0 < config.anti_clipping_factor <= 1.0:
        raise ValueError(f"MixtureConfig.anti_clipping_factor must be in (0, 1], got {config.anti_clipping_factor}")


def mixture_parameters(config: MixtureConfig, split: str) -> dict:
    """The plain dictionary that names a mixture folder: config, split and mixer version.

    Types are normalised (``length_seconds=10`` and ``10.0`` give the same folder).
    """
    cfg = {
        "seed": int(config.seed),
        "event_presence_prob": float(config.event_presence_prob),
        "mixtures_per_class": int(config.mixtures_per_class),
        "ebrs": [float(e) for e in config.ebrs],
        "length_seconds": float(config.length_seconds),
        "sample_rate": int(config.sample_rate),
        "anti_clipping_factor": float(config.anti_clipping_factor),
    }
    missing = {f.name for f in dataclasses.fields(config)} - set(cfg)
    if missing:  # a field added to MixtureConfig must be added here too
        raise RuntimeError(f"mixture_parameters does not know MixtureConfig field(s) {sorted(missing)}")
    return {"split": split, "mixer_version": MIXER_VERSION, "config": cfg}


def mixture_param_hash(config: MixtureConfig, split: str) -> str:
    """32-hex MD5 of :func:`mixture_parameters`: the ``<param_hash>`` folder name of the mixtures."""
    text = json.dumps(mixture_parameters(config, split), sort_keys=True)
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _rng(config: MixtureConfig, class_name: str) -> np.random.Generator:
    """Generator seeded by the config seed and a stable (CRC32) offset of the class name."""
    return np.random.default_rng(np.random.SeedSequence([int(config.seed), zlib.crc32(class_name.encode("utf-8"))]))


def _shuffled_passes(rng: np.random.Generator, n_items: int, size: int) -> np.ndarray:
    """``size`` indices into ``n_items`` drawn in shuffled passes (each item once per pass)."""
    passes = -(-size // n_items) if size else 0
    if passes == 0:
        return np.zeros(0, dtype=int)
    return np.concatenate([rng.permutation(n_items) for _ in range(passes)])[:size]


def relative_to_root(path: str | Path) -> str:
    """The POSIX path of a source file relative to its data root (``data/source_data/...``)."""
    parts = Path(path).parts
    anchor = SOURCE_DIR.parts
    for i in range(len(parts) - len(anchor), -1, -1):
        if parts[i : i + len(anchor)] == anchor:
            return PurePosixPath(*parts[i:]).as_posix()
    raise DataError(path, f"source file is not under a {SOURCE_DIR.as_posix()} folder")


def _content_md5(content: dict) -> str:
    return hashlib.md5(json.dumps(content, sort_keys=True).encode("utf-8")).hexdigest()


def make_recipes(split: SourceSplit, class_name: str, config: MixtureConfig, subset: str) -> list[dict]:
    """Draw the mixture recipes of one class (NOTES section 3), deterministically from the config.

    Parameters
    ----------
    split : the sources (from :func:`~rsed.data.layout.read_source_split`).
    class_name : the target class; must be one of ``split.classes``.
    config : seed, number of mixtures, event presence probability, EBRs, length, sample rate.
    subset : name of the mixture subset (``devtrain``, ``devtest``, ...), used in file names.

    Returns
    -------
    recipes : list of ``config.mixtures_per_class`` plain dicts (str, int, float, bool only).
        Every recipe has ``mixture_audio_filename`` (``mixture_<subset>_<class>_<NNN>_<md5>.wav``,
        md5 of the rest of the recipe), ``bg_path`` (relative to the data root), ``bg_classname``,
        ``event_present``; event mixtures add ``event_path``, ``event_class``,
        ``segment_start_seconds``, ``segment_end_seconds``, ``event_start_in_mixture_seconds``,
        ``event_length_seconds``, ``ebr`` (dB) and ``event_truncated``. Times are whole samples
        at ``config.sample_rate``, in seconds.

    Notes
    -----
    Draws (in this order, always all of them): round(N p) event indices and N background
    indices in shuffled passes, a permutation of the N mixtures whose first round(N p) hold an
    event, round(N p) uniform offsets in [0, 1), round(N p) EBR indices. The offset in samples is
    round((L - event_length) * U), so the event always lies inside the mixture.
    """
    _check_config(config)
    if not _NAME_RE.match(subset):
        raise ValueError(f"subset name must be letters and digits only, got {subset!r}")
    if class_name not in split.events:
        raise DataError(None, f"class {class_name!r} is not in source split {split.name!r} (classes: {', '.join(split.classes)})")
    events = split.events[class_name]
    backgrounds = split.backgrounds
    if not events:
        raise DataError(None, f"class {class_name!r} has no events in split {split.name!r}")
    if not backgrounds:
        raise DataError(None, f"split {split.name!r} has no backgrounds")
    sr = int(config.sample_rate)
    n_mix = int(config.mixtures_per_class)
    n_event = int(round(n_mix * config.event_presence_prob))
    length = int(round(config.length_seconds * sr))

    rng = _rng(config, class_name)
    event_idx = _shuffled_passes(rng, len(events), n_event)
    bg_idx = _shuffled_passes(rng, len(backgrounds), n_mix)
    present = np.zeros(n_mix, dtype=bool)
    present[rng.permutation(n_mix)[:n_event]] = True
    uniforms = rng.random(n_event)
    ebr_idx = rng.integers(len(config.ebrs), size=n_event)

    width = max(3, len(str(n_mix - 1)))
    recipes = []
    j = 0  # index into the event draws
    for i in range(n_mix):
        bg = backgrounds[bg_idx[i]]
        content: dict = {
            "bg_path": relative_to_root(bg.path),
            "bg_classname": bg.scene,
            "event_present": bool(present[i]),
        }
        if present[i]:
            ev = events[event_idx[j]]
            start = int(round(ev.segment[0] * sr))
            n_samples = int(round(ev.segment[1] * sr)) - start
            if n_samples < 1:
                raise DataError(ev.path, f"annotated segment {list(ev.segment)} is shorter than one sample")
            truncated = n_samples > length
            n_samples = min(n_samples, length)
            offset = int(round((length - n_samples) * float(uniforms[j])))
            content.update(
                {
                    "event_path": relative_to_root(ev.path),
                    "event_class": class_name,
                    "segment_start_seconds": start / sr,
                    "segment_end_seconds": (start + n_samples) / sr,
                    "event_start_in_mixture_seconds": offset / sr,
                    "event_length_seconds": n_samples / sr,
                    "ebr": float(config.ebrs[ebr_idx[j]]),
                    "event_truncated": bool(truncated),
                }
            )
            j += 1
        name = f"mixture_{subset}_{class_name}_{i:0{width}d}_{_content_md5(content)}.wav"
        recipes.append({"mixture_audio_filename": name, **content})
    return recipes



def recipe_event(recipe: dict) -> MixtureEvent:
    """The event-list line of a recipe (onset = event start, offset = onset + event length)."""
    if not recipe["event_present"]:
        return MixtureEvent(recipe["mixture_audio_filename"])
    onset = recipe["event_start_in_mixture_seconds"]
    return MixtureEvent(recipe["mixture_audio_filename"], onset, onset + recipe["event_length_seconds"], recipe["event_class"])


def _recipes_text(recipes: list[dict]) -> str:
    return yaml.safe_dump(recipes, default_flow_style=False, sort_keys=False)
