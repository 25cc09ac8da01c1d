"""The run folder: its configuration (``run.json``), and detectors trained once per (class, architecture, tau).

A folder holding another configuration is refused unless ``overwrite``; a detector is keyed by
its settings, the data it saw and the rsed version, so a stale one is moved to
``.superseded/`` and retrained, and a current one is reused.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import shutil
import sys
from pathlib import Path

from ..config import config_hash
from ..errors import RsedError
from ..fileio import write_json, write_text
from ..records import read_json
from ..version import __version__
from .rows import Experiment

RUN_FILE = "run.json"
RUN_FORMAT_VERSION = 1



def _log(message: str) -> None:
    print(f"[rsed] {message}", file=sys.stderr, flush=True)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")



def _plain(value):
    """JSON round trip: tuples become lists, so a stored configuration compares equal to a fresh one."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def run_identity(root: Path, experiment: Experiment, classes: list[str] | None) -> dict:
    """What makes two invocations the same run: data root, class selection, schedule and shared settings.

    Rows (architecture, timesteps, table, a row's own ``training_changes``) are not part of it:
    every row of the paper, and its ablations, run into the same folder.
    """
    e = experiment
    return _plain(
        {
            "root": str(Path(root).resolve()),
            "classes": sorted(classes) if classes else None,
            "schedule": e.training.schedule,
            "subsets": {"train": e.train_subset, "validation": e.validation_subset, "dev": e.dev_subset, "test": e.test_subset},
            "features": dataclasses.asdict(e.features),
            "model": dataclasses.asdict(e.model),
            "training": dataclasses.asdict(e.training),
            "scoring": dataclasses.asdict(e.scoring),
            "lookback_grid": e.lookback_grid,
            "onset_rules": e.onset_rules,
            "baseline": {
                "features": dataclasses.asdict(e.baseline_features),
                "model": dataclasses.asdict(e.baseline_model),
                "training": dataclasses.asdict(e.baseline_training),
                "postprocess": dataclasses.asdict(e.baseline_postprocess),
            },
        }
    )


def row_config(experiment: Experiment) -> dict:
    """What defines a row within a run."""
    e = experiment
    return _plain(
        {
            "row": e.row_id,
            "name": e.name,
            "table": e.table,
            "architecture": e.architecture,
            "timesteps": e.timesteps,
            "default_timesteps": e.default_timesteps,
            "classes": e.classes,
            **({"recipe": e.recipe, "augment": dataclasses.asdict(e.augment), "validation": dataclasses.asdict(e.validation), "threshold_grid": e.threshold_grid} if e.beyond_paper else {}),
            **({"recipe": e.recipe, "training_changes": dict(e.training_changes)} if e.training_changes else {}),
        }
    )


def _differences(stored, wanted, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like mappings, with both values."""
    if isinstance(stored, dict) and isinstance(wanted, dict):
        out = []
        for key in sorted(set(stored) | set(wanted)):
            out += _differences(stored.get(key), wanted.get(key), f"{prefix}{key}.")
        return out
    return [] if stored == wanted else [f"{prefix[:-1]}: {stored!r} here, {wanted!r} now"]


def open_run(out: Path, identity: dict, experiment: Experiment, *, overwrite: bool = False) -> None:
    """Create or resume the run folder ``out`` for one row; refuse to mix configurations.

    A folder whose ``run.json`` holds the same configuration is resumed. One holding another
    configuration, or files but no ``run.json``, is refused (RsedError) unless ``overwrite``:
    then its results are discarded and stale detectors are retrained in place. A row that was
    run here under the same name with another definition is refused likewise.
    """
    out = Path(out)
    path = out / RUN_FILE
    wanted = config_hash(identity)
    data = None
    if path.is_file():
        data = read_json(path)
        if data.get("config_hash") != wanted:
            if not overwrite:
                diff = "; ".join(_differences(data.get("config", {}), identity)[:4]) or "unknown differences"
                raise RsedError(out, f"holds a run with another configuration ({diff}); choose another --out, or pass --overwrite to replace its results")
            _log(f"{out}: replacing a run with another configuration (--overwrite)")
            shutil.rmtree(out / "results", ignore_errors=True)
            data = None
    elif out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise RsedError(out, f"is not empty and holds no {RUN_FILE} (not an rsed run folder, or one written by an older rsed); choose another --out, or pass --overwrite to use it")
        shutil.rmtree(out / "results", ignore_errors=True)
    if data is None:
        data = {"format_version": RUN_FORMAT_VERSION, "config_hash": wanted, "config": identity, "created": _now(), "rsed_version": __version__, "rows": {}}
    rows = data.setdefault("rows", {})
    wanted_row = row_config(experiment)
    stored_row = rows.get(experiment.row_id)
    if stored_row is not None and stored_row != wanted_row:
        if not overwrite:
            diff = "; ".join(_differences(stored_row, wanted_row))
            raise RsedError(out, f"row {experiment.row_id!r} was run here with another definition ({diff}); pass --overwrite to replace it")
        (out / "results" / "rows" / f"{experiment.row_id}.json").unlink(missing_ok=True)
    rows[experiment.row_id] = wanted_row
    write_json(path, data)



def model_folder(out: Path, architecture: str, class_name: str, tau: int | None = None, recipe: str = "") -> Path:
    """Where a detector lives: ``models/<class>_crnn_t<tau>`` (what ``rsed detect`` reads),
    ``models/cnn/<class>_cnn_t<tau>`` and ``models/fnn/<class>_fnn`` (kept apart, so
    ``rsed detect --models RUN/models`` never averages a CNN into a CRNN ensemble); the
    detectors of a training recipe other than the paper's one level deeper, ``models/<recipe>/...``."""
    models = Path(out) / "models" / recipe if recipe else Path(out) / "models"
    if architecture == "crnn":
        return models / f"{class_name}_crnn_t{tau}"
    if architecture == "fnn":
        return models / "fnn" / f"{class_name}_fnn"
    return models / architecture / f"{class_name}_{architecture}_t{tau}"


def _cache_fingerprint(path: Path) -> str:
    """The cache's name (parameters and mixture set) and the fingerprint of the audio it was built from."""
    from ..features.cache import open_cache

    with open_cache(path) as handle:
        value = handle.attrs["inputs_fingerprint"]
    return f"{path.name}:{value.decode() if isinstance(value, bytes) else value}"


def model_key(settings: list, caches: list[Path]) -> str:
    """Key of a detector: its settings, the training and validation data it saw, and the rsed version."""
    return config_hash([settings, [_cache_fingerprint(c) for c in caches], __version__], length=16)


def _stored_key(folder: Path) -> str | None:
    path = folder / "run_key.txt"
    return path.read_text().strip() if path.is_file() else None


def _reuse_or_prepare(folder: Path, key: str, complete: bool, *, overwrite: bool) -> bool:
    """True when ``folder`` holds a finished detector with ``key``; otherwise make it ready for training.

    A finished detector with another key (changed data, settings or code) is moved to
    ``.superseded/<name>-<key>/`` beside it, or deleted with ``overwrite``. An unfinished
    one begun with another key is cleared (its checkpoints belong to another model); one
    begun with this key is left to resume.
    """
    stored = _stored_key(folder)
    if complete and stored == key:
        _remove_leftovers(folder)  # a run killed between finishing and cleaning up
        return True
    if complete:
        if overwrite:
            shutil.rmtree(folder)
        else:
            target = folder.parent / ".superseded" / f"{folder.name}-{stored or 'unkeyed'}"
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            folder.replace(target)
            _log(f"{folder.name}: trained with other data, settings or code; kept as {target}, retraining")
    elif folder.is_dir():
        pending = folder / "pending_key.txt"
        if pending.is_file() and pending.read_text().strip() != key:
            shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / "pending_key.txt", key + "\n")
    return False


#: What training leaves in a detector folder for resuming (rsed/training/resume.py): the per-epoch
#: snapshots and the best epoch's weights (model.keras holds them, with the prior correction).
TRAINING_LEFTOVERS = ("backup", "best.weights.h5")


def _remove_leftovers(folder: Path) -> None:
    for name in TRAINING_LEFTOVERS:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _finish(folder: Path, key: str, seconds: float, structure: dict, steps_per_epoch: int | None = None) -> None:
    """Mark a detector finished: its key, and how long, how many epochs and (given the batches of
    an epoch) how many optimizer updates it trained; the weights kept are those of the best epoch.
    Then remove what only resuming needed (:data:`TRAINING_LEFTOVERS`; an interrupted training keeps them)."""
    log = folder / "train_log.csv"
    epochs = max(0, len(log.read_text().splitlines()) - 1) if log.is_file() else None
    counts = {"steps_per_epoch": steps_per_epoch, "updates": epochs * steps_per_epoch if epochs is not None and steps_per_epoch else None}
    write_json(folder / "training.json", {"key": key, "seconds": round(seconds, 1), "epochs": epochs, **counts, "finished": _now(), "structure": structure, "rsed_version": __version__})
    write_text(folder / "run_key.txt", key + "\n")
    (folder / "pending_key.txt").unlink(missing_ok=True)
    _remove_leftovers(folder)
