"""Steps 2 and 3 of the mixture recipe: the mixing function, and rendering a subset's recipes to audio, resumably."""

from __future__ import annotations

import contextlib
import functools
import math
import re
import sys
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from ...audio import load_audio, write_audio
from ...config import MixtureConfig
from ...errors import AudioError, DataError
from ...fileio import write_text, write_yaml
from ...parallel import ordered_map, resolve_workers
from ..layout import (
    MixtureSet,
    check_root,
    format_event_list,
    mixture_folder,
    read_source_split,
    source_dir,
    write_event_list,
)
from .recipes import _NAME_RE, _check_config, _recipes_text, make_recipes, mixture_param_hash, mixture_parameters, recipe_event

#: Largest positive 24-bit sample as a float: the peak a normalised mixture gets.
PEAK_LIMIT = (2**23 - 1) / 2**23
#: Background or event RMS below this (about -200 dBFS) counts as digital silence.
SILENCE_RMS = 1e-10
#: An event file may end up to this many seconds before its annotated segment end (rounding in
#: the annotation); the event then is that much shorter. Anything more is an error.
SEGMENT_TOLERANCE_SECONDS = 0.01



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


class AudioCache:
    """Least-recently-used cache of loaded sources (backgrounds are reused across mixtures), at most
    ``max_bytes`` of float32 samples at ``sample_rate``; safe to share between threads."""

    def __init__(self, sample_rate: int, max_bytes: int = 256 * 2**20):
        self.sample_rate = sample_rate
        self.max_bytes = max_bytes
        self._items: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, path: Path) -> np.ndarray:
        with self._lock:
            if path in self._items:
                self._items.move_to_end(path)
                return self._items[path]
        y = load_audio(path, sample_rate=self.sample_rate, warn_upsampled=False)  # sources come at many rates (NOTES 9)
        with self._lock:
            if path not in self._items:
                self._items[path] = y
                self._bytes += y.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes
        return y


def render_recipe(
    root: str | Path, recipe: dict, config: MixtureConfig, cache: AudioCache | None = None
) -> tuple[np.ndarray, dict]:
    """Load the sources of one recipe and mix them: the mixture [shape=(round(length*sr),)] and :func:`mix`'s info."""
    root = Path(root)
    sr = int(config.sample_rate)
    cache = cache or AudioCache(sr)
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



def _render_file(root: Path, audio_dir: Path, config: MixtureConfig, recipe: dict, cache: AudioCache | None = None) -> str:
    """Render one recipe and write its audio atomically; returns the file name (a pool job)."""
    mixture, _ = render_recipe(root, recipe, config, cache)
    write_audio(audio_dir / recipe["mixture_audio_filename"], mixture, int(config.sample_rate))
    return recipe["mixture_audio_filename"]


def _synthesize_class(mset: MixtureSet, recipes: list[dict], config: MixtureConfig, cache: AudioCache, progress: bool, workers: int | None = None) -> None:
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
    cache = AudioCache(int(config.sample_rate))
    sets = []
    for class_name in classes:
        mset = MixtureSet(root, subset, param_hash, class_name)
        recipes = make_recipes(sources, class_name, config, subset)
        _synthesize_class(mset, recipes, config, cache, progress, workers)
        sets.append(mset)
    return sets
