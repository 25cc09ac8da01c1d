"""The mini source tree on disk: one job per source file, the ``cv_setup`` lists and the marker.

Every file has its own random stream (:class:`numpy.random.SeedSequence` keyed by the seed, the
split, the kind and the index), so the output is byte-identical for a seed, ``devtrain`` and
``devtest`` sources are different draws, and file *i* does not change when the counts change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ...audio import write_audio
from ...config import MiniDataConfig
from ...errors import DataError
from ...fileio import write_json, write_yaml
from ...parallel import ordered_map, resolve_workers
from ...version import __version__
from ..chain import ChainProfile, RecordingChain, apply_chain, draw_chain, mp3_available
from ..layout import MIXTURE_DIR, SOURCE_DIR, SPLITS
from .backgrounds import SCENES, make_background
from .events import FAMILIES, make_event_file, split_families
from .signals import _rng

#: Version of the generator: part of the marker, a new version regenerates.
MINI_VERSION = 4
MARKER = "mini.json"
#: Per source file: the design family and recording chain of an event, the scene variant of a background.
SOURCES_FILE = "mini_sources.json"
PARTIAL_MARKER = "mini.partial.json"
SUBTYPE = "PCM_16"



def _marker(config: MiniDataConfig) -> dict:
    cfg = {
        "seed": int(config.seed),
        "events_per_class_per_split": int(config.events_per_class_per_split),
        "bgs_per_scene_per_split": int(config.bgs_per_scene_per_split),
        "background_seconds": float(config.background_seconds),
        "sample_rate": int(config.sample_rate),
        "classes": [str(c) for c in config.classes],
        "held_out": bool(config.held_out),
        "recording_chains": bool(config.recording_chains),
    }
    missing = {f.name for f in dataclasses.fields(config)} - set(cfg)
    if missing:  # a field added to MiniDataConfig must be added here too
        raise RuntimeError(f"the mini marker does not know MiniDataConfig field(s) {sorted(missing)}")
    return {"generator_version": MINI_VERSION, "config": cfg, "mp3_coding": mp3_available()}


def _read_marker(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _check_config(config: MiniDataConfig) -> None:
    unknown = [c for c in config.classes if c not in FAMILIES]
    if unknown:
        known = ", ".join(FAMILIES)
        raise ValueError(f"mini dataset has no generator for class(es) {', '.join(unknown)}; known: {known}")
    if not config.classes:
        raise ValueError("MiniDataConfig.classes is empty")
    if int(config.seed) < 0:
        raise ValueError(f"MiniDataConfig.seed must be non-negative, got {config.seed}")
    if config.events_per_class_per_split < 1 or config.bgs_per_scene_per_split < 1:
        raise ValueError("MiniDataConfig needs at least one event per class and one background per scene per split")
    if not config.background_seconds >= 1.0:
        raise ValueError(f"MiniDataConfig.background_seconds must be >= 1, got {config.background_seconds}")
    if config.sample_rate < 16000:
        raise ValueError(f"MiniDataConfig.sample_rate must be >= 16000 Hz, got {config.sample_rate}")


@dataclasses.dataclass(frozen=True)
class _SourceJob:
    """One source file of the mini tree: a background of a scene or an event of a class, ``i``-th of its split."""

    base: Path
    config: MiniDataConfig
    kind: str
    split: str
    name: str
    i: int


#: Recording chains of the event files per split (:mod:`rsed.data.chain`). Devtest's differ in
#: distribution: 8 kHz and the lowest MP3 bit rates only there, longer rooms, stronger colouration
#: (the table in docs/interpretation.md, "The embedded mini dataset").
EVENT_CHAINS = {
    "devtrain": ChainProfile(
        rates=(16000, 22050, 32000, 44100, 48000), rate_weights=(0.15, 0.15, 0.1, 0.4, 0.2),
        eq_prob=0.8, eq_bands=(1, 3), eq_gain_db=6.0, low_cut_prob=0.4, low_cut_hz=(60.0, 300.0),
        reverb_prob=0.5, rt60=(0.1, 0.6), drr_db=(3.0, 15.0), air_prob=0.3, air_cutoff=(4000.0, 14000.0),
        clip_prob=0.05, clip_level=(0.4, 0.8), mp3_prob=0.1, mp3_quality=(0.3, 0.7),
    ),
    "devtest": ChainProfile(
        rates=(8000, 16000, 22050, 44100, 48000), rate_weights=(0.15, 0.2, 0.15, 0.3, 0.2),
        eq_prob=0.9, eq_bands=(1, 4), eq_gain_db=9.0, low_cut_prob=0.5, low_cut_hz=(80.0, 400.0),
        reverb_prob=0.6, rt60=(0.2, 1.2), drr_db=(0.0, 12.0), air_prob=0.4, air_cutoff=(2500.0, 10000.0),
        clip_prob=0.1, clip_level=(0.3, 0.7), mp3_prob=0.2, mp3_quality=(0.5, 0.95),
    ),
}


def _write_source(job: _SourceJob) -> tuple[dict, dict]:
    """Generate and write one source file (its own seeded generator): its cv_setup entry and its metadata.

    An event file cycles through its split's families (:func:`.events.split_families`), then goes
    through a recording chain drawn from :data:`EVENT_CHAINS` and is stored at the chain's native
    rate, keeping the dry file's peak level.
    """
    rng = _rng(job.config.seed, job.split, job.kind, job.name, job.i)
    sr = int(job.config.sample_rate)
    filename = f"{job.name}_{job.split}_{job.i:03d}.wav"
    kind = job.split if job.config.held_out else "devtrain"  # the distribution this split's files are drawn from
    if job.kind == "bg":
        y, variant = make_background(rng, job.name, float(job.config.background_seconds), sr, kind)
        write_audio(job.base / "bgs" / job.name / filename, y, sr, subtype=SUBTYPE)
        return {"filepath": f"{job.name}/{filename}", "classname": job.name}, {"file": f"{job.name}/{filename}", "variant": variant}
    families = split_families(job.name, kind)
    family = families[job.i % len(families)]
    y, (start, end) = make_event_file(rng, job.name, sr, family)
    chain = draw_chain(rng, EVENT_CHAINS[kind]) if job.config.recording_chains else RecordingChain(native_rate=sr)
    level = float(np.max(np.abs(y)))
    y = apply_chain(y, sr, chain, rng)
    y *= level / (np.max(np.abs(y)) + 1e-20)
    write_audio(job.base / "events" / job.name / filename, y, chain.native_rate, subtype=SUBTYPE)
    return {"audio_filename": filename, "segment": [start, end]}, {"file": filename, "family": family, "chain": chain.describe()}


def generate_mini(root: str | Path, config: MiniDataConfig = MiniDataConfig(), progress: bool = True, workers: int | None = None) -> Path:
    """Write the mini source tree under ``root/data/source_data`` and return ``root``.

    Idempotent: when ``source_data/mini.json`` (written last) records the same config and
    generator version, nothing is done. A different config regenerates the tree and removes
    ``root/data/mixture_data`` (mixtures made from the old sources). A ``source_data`` folder
    that holds files but no mini marker is never touched: a DataError is raised instead.

    Parameters
    ----------
    root : data root (created if missing).
    config : seed, number of events per class and backgrounds per scene per split, background
        length (s), sample rate (Hz), classes (any of babycry, glassbreak, gunshot).
    progress : show a tqdm progress bar (only on a terminal).
    workers : processes generating files (default: every available core); the files are the
        same for any number, each is made by its own seeded generator.
    """
    _check_config(config)
    root = Path(root)
    base = root / SOURCE_DIR
    marker_path, partial_path = base / MARKER, base / PARTIAL_MARKER
    wanted = _marker(config)
    found = _read_marker(marker_path)
    if isinstance(found, dict) and all(found.get(key) == value for key, value in wanted.items()):
        return root
    if base.exists():
        ours = marker_path.exists() or partial_path.exists()
        if not ours and any(base.iterdir()):
            raise DataError(base, "holds files not written by the mini generator; refusing to overwrite (use an empty root)")
        marker_path.unlink(missing_ok=True)
        for name in ("bgs", "events", "cv_setup"):
            shutil.rmtree(base / name, ignore_errors=True)
        shutil.rmtree(root / MIXTURE_DIR, ignore_errors=True)
    base.mkdir(parents=True, exist_ok=True)
    write_json(partial_path, wanted)

    jobs = []
    for split in SPLITS:
        for scene in SCENES:
            for i in range(config.bgs_per_scene_per_split):
                jobs.append(_SourceJob(base, config, "bg", split, scene, i))
        for class_name in config.classes:
            for i in range(config.events_per_class_per_split):
                jobs.append(_SourceJob(base, config, "event", split, class_name, i))
    events_yaml = {split: {c: [] for c in config.classes} for split in SPLITS}
    bgs_yaml = {split: [] for split in SPLITS}
    sources = {split: {"events": {c: [] for c in config.classes}, "bgs": []} for split in SPLITS}
    disable = True if not progress else not sys.stderr.isatty()
    with contextlib.closing(ordered_map(_write_source, jobs, resolve_workers(workers, len(jobs)))) as written:
        for job, (entry, info) in tqdm(zip(jobs, written, strict=True), total=len(jobs), desc="mini dataset", unit="file", disable=disable):
            if job.kind == "bg":
                bgs_yaml[job.split].append(entry)
                sources[job.split]["bgs"].append(info)
            else:
                events_yaml[job.split][job.name].append(entry)
                sources[job.split]["events"][job.name].append(info)
    for split in SPLITS:
        write_yaml(base / "cv_setup" / f"events_{split}.yaml", events_yaml[split])
        write_yaml(base / "cv_setup" / f"bgs_{split}.yaml", bgs_yaml[split])
    write_json(base / SOURCES_FILE, sources)
    write_json(marker_path, {**wanted, "rsed_version": __version__, "scenes": list(SCENES)})
    partial_path.unlink(missing_ok=True)
    return root
