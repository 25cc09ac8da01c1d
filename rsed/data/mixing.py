"""Our implementation of the DCASE 2017 Task 2 mixture recipe (NOTES section 3).

Three steps, each usable alone:

1. :func:`make_recipes` draws, per class, which mixtures hold an event, which event and
   background, where the event goes and at which event-to-background ratio (EBR). Recipes are
   plain dictionaries (YAML-able) whose times are quantised to whole samples, so the event list
   written from them matches the audio exactly.
2. :func:`mix` is the pure mixing function: scale the event to the EBR against the part of the
   background it overlaps, add, multiply by the anti-clipping factor, normalise if the peak
   reaches 1.
3. :func:`synthesize` reads a source split, renders every recipe to 24-bit WAV and writes the
   layout of :mod:`rsed.data.layout`, resumably.

Notes
-----
Choices the official synthesizer leaves open or that we made differently
(``docs/interpretation.md``):

- Events and backgrounds are drawn in shuffled passes over the source list (every source is
  used once before any is used twice), not independently with replacement, so small source
  sets are covered evenly.
- An event segment longer than the mixture is truncated to the mixture length (the recipe
  says ``event_truncated: true``); its event-list offset is the mixture end.
- A background shorter than the mixture is repeated from its start (tiled); a longer one is cut
  to the mixture length (its first samples are used).
- A digitally silent background under the event (RMS below ``SILENCE_RMS``) or a silent event
  makes the EBR undefined: :func:`mix` raises ``ValueError`` and :func:`synthesize` turns it
  into a :class:`~rsed.errors.DataError` naming both files. No floor is applied.
- When the mixture's peak reaches 1 it is scaled to peak ``PEAK_LIMIT`` (just below 1, the
  largest 24-bit sample), so 24-bit writing never clips.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import math
import re
import sys
import zlib
from collections import OrderedDict
from pathlib import Path, PurePosixPath

import numpy as np
import yaml
from tqdm import tqdm

from ..audio import load_audio, write_audio
from ..config import MixtureConfig
from ..errors import AudioError, DataError
from ..fileio import write_text, write_yaml
from ..parallel import ordered_map, resolve_workers
from .layout import (
    SOURCE_DIR,
    MixtureEvent,
    MixtureSet,
    SourceSplit,
    check_root,
    format_event_list,
    mixture_folder,
    read_source_split,
    source_dir,
    write_event_list,
)

#: Version of this mixer; part of the parameter hash, so a changed mixer writes a new folder.
MIXER_VERSION = 1
#: Largest positive 24-bit sample as a float: the peak a normalised mixture gets.
PEAK_LIMIT = (2**23 - 1) / 2**23
#: Background or event RMS below this (about -200 dBFS) counts as digital silence.
SILENCE_RMS = 1e-10
#: An event file may end up to this many seconds before its annotated segment end (rounding in
#: the annotation); the event then is that much shorter. Anything more is an error.
SEGMENT_TOLERANCE_SECONDS = 0.01

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


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _limit_peak(mixture: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale ``mixture`` to peak ``PEAK_LIMIT`` if its peak reaches 1; return it and the gain."""
    peak = float(np.max(np.abs(mixture))) if mixture.size else 0.0
    if peak >= 1.0:
        gain = PEAK_LIMIT / peak
        return mixture * gain, gain
    return mixture, 1.0


def mix(
    background: np.ndarray,
    event: np.ndarray | None,
    offset: int = 0,
    ebr_db: float = 0.0,
    anti_clipping_factor: float = 0.2,
) -> tuple[np.ndarray, dict]:
    """Mix an event into a background at a given event-to-background ratio (pure function).

    Parameters
    ----------
    background : np.ndarray [shape=(n,)], float samples; its length is the mixture length.
    event : np.ndarray [shape=(m,)] with 1 <= m and offset + m <= n, or ``None`` for a mixture
        without event (then ``offset`` and ``ebr_db`` are ignored).
    offset : first sample of the event in the mixture.
    ebr_db : target rms(scaled event) / rms(background[offset:offset+m]) in dB.
    anti_clipping_factor : the whole mixture is multiplied by this (0.2 in DCASE 2017).

    Returns
    -------
    mixture : np.ndarray [shape=(n,)], float64, peak < 1.
    info : dict with ``event_gain`` (applied to the event before the anti-clipping factor),
        ``normalisation_gain`` (1.0 unless the peak reached 1), ``background_gain`` (the total
        factor on the background: anti-clipping times normalisation), ``event_total_gain`` (the
        total factor on the event), ``event_rms`` and ``background_rms`` (overlap, unscaled).

    Raises
    ------
    ValueError : bad shapes or offset, or a silent overlap or event (EBR undefined).
    """
    bg = np.asarray(background, dtype=np.float64)
    if bg.ndim != 1 or bg.size == 0:
        raise ValueError(f"background must be a non-empty 1-D array, got shape {bg.shape}")
    if event is None:
        mixture, norm = _limit_peak(anti_clipping_factor * bg)
        info = {
            "event_gain": 0.0,
            "normalisation_gain": norm,
            "background_gain": anti_clipping_factor * norm,
            "event_total_gain": 0.0,
            "event_rms": 0.0,
            "background_rms": _rms(bg),
        }
        return mixture, info
    ev = np.asarray(event, dtype=np.float64)
    if ev.ndim != 1 or ev.size == 0:
        raise ValueError(f"event must be a non-empty 1-D array, got shape {ev.shape}")
    offset = int(offset)
    if offset < 0 or offset + ev.size > bg.size:
        raise ValueError(f"event of {ev.size} samples at offset {offset} does not fit in a background of {bg.size} samples")
    overlap = slice(offset, offset + ev.size)
    bg_rms = _rms(bg[overlap])
    ev_rms = _rms(ev)
    if bg_rms < SILENCE_RMS:
        raise ValueError(
            f"background is silent under the event (samples {offset}-{offset + ev.size}): "
            "the event-to-background ratio is undefined"
        )
    if ev_rms < SILENCE_RMS:
        raise ValueError("event is silent: it cannot be scaled to an event-to-background ratio")
    event_gain = 10.0 ** (float(ebr_db) / 20.0) * bg_rms / ev_rms
    mixture = bg.copy()
    mixture[overlap] += event_gain * ev
    mixture, norm = _limit_peak(anti_clipping_factor * mixture)
    info = {
        "event_gain": event_gain,
        "normalisation_gain": norm,
        "background_gain": anti_clipping_factor * norm,
        "event_total_gain": anti_clipping_factor * norm * event_gain,
        "event_rms": ev_rms,
        "background_rms": bg_rms,
    }
    return mixture, info


def realised_ebr(mixture: np.ndarray, background: np.ndarray, background_gain: float, onset: int, length: int) -> float:
    """EBR in dB measured from a mixture: the event part is ``mixture - background_gain * background``.

    ``onset`` and ``length`` (samples) delimit the event; the ratio is taken over that overlap.
    """
    region = slice(int(onset), int(onset) + int(length))
    bg_part = background_gain * np.asarray(background, dtype=np.float64)[region]
    ev_part = np.asarray(mixture, dtype=np.float64)[region] - bg_part
    return 20.0 * math.log10(_rms(ev_part) / _rms(bg_part))


def fit_length(background: np.ndarray, n: int) -> np.ndarray:
    """Cut ``background`` to ``n`` samples, or tile it from its start when shorter."""
    if background.size >= n:
        return background[:n]
    reps = -(-n // background.size)
    return np.tile(background, reps)[:n]


class _AudioCache:
    """Least-recently-used cache of loaded sources (backgrounds are reused across mixtures)."""

    def __init__(self, sample_rate: int, max_bytes: int = 256 * 2**20):
        self.sample_rate = sample_rate
        self.max_bytes = max_bytes
        self._items: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, path: Path) -> np.ndarray:
        if path in self._items:
            self._items.move_to_end(path)
            return self._items[path]
        y = load_audio(path, sample_rate=self.sample_rate)
        self._items[path] = y
        self._bytes += y.nbytes
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= old.nbytes
        return y


def render_recipe(
    root: str | Path, recipe: dict, config: MixtureConfig, cache: _AudioCache | None = None
) -> tuple[np.ndarray, dict]:
    """Load the sources of one recipe and mix them: the mixture [shape=(round(length*sr),)] and :func:`mix`'s info."""
    root = Path(root)
    sr = int(config.sample_rate)
    cache = cache or _AudioCache(sr)
    n = int(round(config.length_seconds * sr))
    bg_path = root / recipe["bg_path"]
    background = fit_length(cache.get(bg_path), n)
    if not recipe["event_present"]:
        return mix(background, None, anti_clipping_factor=config.anti_clipping_factor)
    ev_path = root / recipe["event_path"]
    audio = cache.get(ev_path)
    start = int(round(recipe["segment_start_seconds"] * sr))
    length = int(round(recipe["event_length_seconds"] * sr))
    event = audio[start : start + length]
    if event.size < length - SEGMENT_TOLERANCE_SECONDS * sr or event.size == 0:
        raise AudioError(
            ev_path,
            f"annotated segment ends at {recipe['segment_end_seconds']:.3f} s, "
            f"after the end of the file ({audio.size / sr:.3f} s)",
        )
    offset = int(round(recipe["event_start_in_mixture_seconds"] * sr))
    try:
        return mix(background, event, offset, recipe["ebr"], config.anti_clipping_factor)
    except ValueError as exc:
        raise DataError(bg_path, f"cannot mix event {ev_path}: {exc}") from None


def recipe_event(recipe: dict) -> MixtureEvent:
    """The event-list line of a recipe (onset = event start, offset = onset + event length)."""
    if not recipe["event_present"]:
        return MixtureEvent(recipe["mixture_audio_filename"])
    onset = recipe["event_start_in_mixture_seconds"]
    return MixtureEvent(recipe["mixture_audio_filename"], onset, onset + recipe["event_length_seconds"], recipe["event_class"])


def _recipes_text(recipes: list[dict]) -> str:
    return yaml.safe_dump(recipes, default_flow_style=False, sort_keys=False)


def _render_file(root: Path, audio_dir: Path, config: MixtureConfig, recipe: dict, cache: _AudioCache | None = None) -> str:
    """Render one recipe and write its audio atomically; returns the file name (a pool job)."""
    mixture, _ = render_recipe(root, recipe, config, cache)
    write_audio(audio_dir / recipe["mixture_audio_filename"], mixture, int(config.sample_rate))
    return recipe["mixture_audio_filename"]


def _synthesize_class(mset: MixtureSet, recipes: list[dict], config: MixtureConfig, cache: _AudioCache, progress: bool, workers: int | None = None) -> None:
    """Render one class set: recipes, audio (skipping files already written), event list last."""
    text = _recipes_text(recipes)
    recipes_match = mset.recipes_path.is_file() and mset.recipes_path.read_bytes() == text.encode("utf-8")
    audio_dir = mset.audio_dir
    audio_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"mixture_{mset.subset}_{mset.class_name}_"
    # Temporary files of an interrupted atomic write (killed before cleanup).
    for part in audio_dir.glob(f".{prefix}*.part"):
        part.unlink(missing_ok=True)
    if not recipes_match:
        # Different or missing recipes: the set is not complete and no audio can be trusted.
        mset.event_list_path.unlink(missing_ok=True)
        own = re.compile(rf"^{re.escape(prefix)}\d+_[0-9a-f]{{32}}\.wav$")
        for old in audio_dir.glob(f"{prefix}*.wav"):
            if own.match(old.name):
                old.unlink()
        write_text(mset.recipes_path, text)
    disable = True if not progress else not sys.stderr.isatty()
    todo = [r for r in recipes if not (audio_dir / r["mixture_audio_filename"]).is_file()]
    workers = resolve_workers(workers, len(todo))
    # In-process the loaded sources are shared through ``cache``; pool workers load their own.
    job = functools.partial(_render_file, mset.root, audio_dir, config, cache=cache if workers == 1 else None)
    with contextlib.closing(ordered_map(job, todo, workers)) as done:
        for _ in tqdm(done, total=len(todo), desc=f"{mset.subset} {mset.class_name}", unit="mix", disable=disable):
            pass
    events_text = format_event_list([recipe_event(r) for r in recipes])
    if not (mset.event_list_path.is_file() and mset.event_list_path.read_bytes() == events_text.encode("utf-8")):
        write_event_list(mset.event_list_path, [recipe_event(r) for r in recipes])


def synthesize(
    root: str | Path,
    subset: str,
    split: str,
    config: MixtureConfig = MixtureConfig(),
    classes: list[str] | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> list[MixtureSet]:
    """Synthesize the mixtures of ``subset`` from the sources of ``split`` under ``root``.

    Writes ``data/mixture_data/<subset>/<param_hash>/`` (param_hash = :func:`mixture_param_hash`)
    with ``meta/parameters.yaml``, and per class ``meta/mixture_recipes_<subset>_<class>.yaml``,
    ``audio/*.wav`` (24-bit PCM, mono, ``config.sample_rate``) and, last, the event list
    ``meta/event_list_<subset>_<class>.csv`` whose existence marks the class set complete.

    Resumable: when the recipes file matches, audio files already written (atomically) are kept,
    so an interrupted run continues where it stopped; a complete set is left untouched.

    Parameters
    ----------
    root : data root holding ``data/source_data``.
    subset : mixture subset name (letters and digits), e.g. ``devtrain``.
    split : source split, ``devtrain`` or ``devtest``.
    config : the mixture recipe parameters.
    classes : classes to synthesize; all classes of the split when ``None``.
    progress : show a tqdm progress bar (only on a terminal).
    workers : processes rendering mixtures (default: every available core); the files do not
        depend on it (recipes are drawn first, in one process).

    Returns
    -------
    sets : one :class:`~rsed.data.layout.MixtureSet` per class, in the order of ``classes``.

    Raises
    ------
    DataError or AudioError naming the file: missing root or split files, an empty class,
    unreadable audio, a silent background under an event.
    """
    _check_config(config)
    if not _NAME_RE.match(subset):
        raise ValueError(f"subset name must be letters and digits only, got {subset!r}")
    root = check_root(root)
    sources = read_source_split(root, split)
    if classes is None:
        classes = sources.classes
    classes = list(classes)
    unknown = [c for c in classes if c not in sources.events]
    if unknown:
        raise DataError(
            source_dir(root) / "cv_setup" / f"events_{split}.yaml",
            f"lists no class {', '.join(map(repr, unknown))} (classes: {', '.join(sources.classes)})",
        )
    param_hash = mixture_param_hash(config, split)
    folder = mixture_folder(root, subset, param_hash)
    params_path = folder / "meta" / "parameters.yaml"
    params = {"param_hash": param_hash, **mixture_parameters(config, split)}
    if not params_path.is_file() or yaml.safe_load(params_path.read_text(encoding="utf-8")) != params:
        write_yaml(params_path, params)
    cache = _AudioCache(int(config.sample_rate))
    sets = []
    for class_name in classes:
        mset = MixtureSet(root, subset, param_hash, class_name)
        recipes = make_recipes(sources, class_name, config, subset)
        _synthesize_class(mset, recipes, config, cache, progress, workers)
        sets.append(mset)
    return sets


__all__ = [
    "MIXER_VERSION",
    "PEAK_LIMIT",
    "SILENCE_RMS",
    "make_recipes",
    "mix",
    "realised_ebr",
    "fit_length",
    "render_recipe",
    "recipe_event",
    "relative_to_root",
    "mixture_parameters",
    "mixture_param_hash",
    "synthesize",
]
