"""Resumable training: an atomic snapshot per epoch of everything ``fit`` needs to go on unchanged.

Keras' ``BackupAndRestore`` saves the weights and the optimizer but neither the dropout random
state nor the early-stopping counters nor the best validation loss so far, and it writes its
files in place. A run killed and restarted with it trained on other dropout masks, let a worse
epoch overwrite ``best.weights.h5`` and stopped at another epoch than an uninterrupted run, and a
kill during a save left a half-written backup. :class:`ResumableTraining` replaces
``BackupAndRestore``, ``ModelCheckpoint``, ``EarlyStopping`` and ``CSVLogger`` with one callback
whose single commit point is an atomic rename:

``<out_dir>/backup/epoch-NNNN.npz``
    every model variable (weights, batch-norm statistics, dropout seed states) and every
    optimizer variable (moments, iteration count) after epoch ``NNNN``; written before the state.
``<out_dir>/backup/state.json``
    epochs done, the file of the latest and of the best epoch, the early-stopping counters, the
    rows of the epoch log, whether training has finished, and a key of the configuration. It is
    renamed into place last: a kill at any moment leaves the previous complete state.
``<out_dir>/train_log.csv``
    one row per finished epoch (the columns of ``CSVLogger``), rewritten from the state, so
    it never holds an epoch twice or misses one.
``<out_dir>/best.weights.h5``
    the weights of the epoch with the best monitored value (the lowest loss, or with
    ``mode="max"`` the highest accuracy), written when training ends and loaded into the
    model; with ``restore_best=False`` the model keeps its last epoch's weights instead and no
    such file is written.

On a restart the latest snapshot is loaded and ``fit`` continues with the next epoch; a run
whose state says it finished loads its best (or last) weights and trains no further. A state written
for another configuration (other key, other variable shapes) is ignored and training starts
over. With the batches a function of (seed, epoch, index) and deterministic kernels, a resumed
run ends with the weights and the log of an uninterrupted one (tests/test_interruption.py).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
from pathlib import Path

import keras
import numpy as np

from ..config import config_hash
from ..fileio import atomic_path, write_json, write_text

log = logging.getLogger(__name__)

#: Layout version of ``backup/state.json``; a state of another version is ignored.
STATE_VERSION = 1
STATE_FILE = "state.json"
LOG_FILE = "train_log.csv"
BEST_FILE = "best.weights.h5"


def variables_key(model: keras.Model, key: str = "") -> str:
    """Hash of ``key`` and the shapes of every model variable: a state must match it to be resumed."""
    shapes = [list(v.shape) for v in model.variables]
    return config_hash([key, shapes], length=16)


def _optimizer_variables(model: keras.Model) -> list:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return []
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    return list(optimizer.variables)


def save_variables(path: Path, model: keras.Model) -> None:
    """Write every model and optimizer variable of ``model`` to ``path`` (``.npz``) atomically."""
    arrays = {f"model_{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)}
    arrays.update({f"optimizer_{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(_optimizer_variables(model))})
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def load_variables(path: Path, model: keras.Model, *, optimizer: bool = True) -> None:
    """Assign the variables saved by :func:`save_variables` back, checking every shape first."""
    targets = [("model", v) for v in model.variables]
    if optimizer:
        targets += [("optimizer", v) for v in _optimizer_variables(model)]
    counters = {"model": 0, "optimizer": 0}
    with np.load(path) as data:
        values = []
        for group, variable in targets:
            name = f"{group}_{counters[group]:04d}"
            counters[group] += 1
            if name not in data.files or tuple(data[name].shape) != tuple(variable.shape):
                raise ValueError(f"{path.name}: {name} is missing or has another shape")
            values.append(data[name])
    for (_, variable), value in zip(targets, values, strict=True):
        variable.assign(value)


class ResumableTraining(keras.callbacks.Callback):
    """Snapshot, early stopping, best weights and epoch log of one ``fit``, resumable after a kill.

    Parameters
    ----------
    out_dir : the training folder (``backup/``, ``train_log.csv`` and ``best.weights.h5`` go here).
    key : anything that must match for a snapshot to be resumed (the training configuration);
        the shapes of the model's variables are always part of it.
    monitor : the log entry to watch (``val_loss``).
    mode : ``"min"`` (a loss) or ``"max"`` (an accuracy): which way is better, for the best
        epoch and for early stopping.
    patience, start_from_epoch, min_delta : early stopping as ``keras.callbacks.EarlyStopping``
        does it (this callback drives one and saves its counters); ``min_delta`` applies to early
        stopping only, the best epoch is the strictly best value as in ``ModelCheckpoint``.
    restore_best : end with the best epoch's weights (and write ``best.weights.h5``); False
        ends with the last epoch's, as the challenge baseline did.
    """

    def __init__(
        self,
        out_dir: str | Path,
        key: str = "",
        *,
        monitor: str = "val_loss",
        mode: str = "min",
        patience: int = 0,
        start_from_epoch: int = 0,
        min_delta: float = 0.0,
        restore_best: bool = True,
    ):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.out_dir = Path(out_dir)
        self.backup_dir = self.out_dir / "backup"
        self.key = key
        self.monitor = monitor
        self.mode = mode
        self.restore_best = restore_best
        self.stopper = keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, min_delta=min_delta, patience=patience, start_from_epoch=start_from_epoch)
        self.state: dict | None = None
        self.resumed_from = 0

    def set_model(self, model):
        super().set_model(model)
        self.stopper.set_model(model)

    # -- state -------------------------------------------------------------------------------

    def _full_key(self) -> str:
        return variables_key(self.model, self.key)

    def read_state(self) -> dict | None:
        """The saved state when it is complete, current and belongs to this configuration, else ``None``."""
        path = self.backup_dir / STATE_FILE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable training state (%s); training starts over", path, exc)
            return None
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            log.warning("%s: training state of another version; training starts over", path)
            return None
        if state.get("key") != self._full_key():
            log.warning("%s: training state of another configuration; training starts over", path)
            return None
        files = [state.get("latest")] + ([state["best_file"]] if state.get("best_file") else [])
        if not all(isinstance(f, str) and (self.backup_dir / f).is_file() for f in files):
            log.warning("%s: a snapshot it names is missing; training starts over", path)
            return None
        return state

    def _write_log(self, rows: list[dict]) -> None:
        keys = sorted({k for row in rows for k in row} - {"epoch"})
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["epoch", *keys])
        for row in rows:
            writer.writerow([row["epoch"], *(row.get(k, "") for k in keys)])
        write_text(self.out_dir / LOG_FILE, buffer.getvalue())

    def _cleanup(self, keep: set[str]) -> None:
        for path in self.backup_dir.glob("epoch-*.npz"):
            if path.name not in keep:
                path.unlink(missing_ok=True)

    # -- callback hooks ----------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self.stopper.on_train_begin(logs)
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        for directory in (self.backup_dir, self.out_dir):  # temporary files of a killed atomic write
            for part in directory.glob(".*.part"):
                part.unlink(missing_ok=True)
        state = self.read_state()
        self.state = state
        self.resumed_from = 0
        if state is None:
            self._cleanup(keep=set())
            self.out_dir.joinpath(LOG_FILE).unlink(missing_ok=True)
            self.out_dir.joinpath(BEST_FILE).unlink(missing_ok=True)
            return
        try:
            load_variables(self.backup_dir / state["latest"], self.model)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("%s: cannot load the snapshot (%s); training starts over", self.backup_dir / state["latest"], exc)
            self.state = None
            self._cleanup(keep=set())
            return
        for name in ("wait", "best", "best_epoch", "stopped_epoch"):
            setattr(self.stopper, name, state["early_stopping"][name])
        self._write_log(state["rows"])
        epochs = int(self.params.get("epochs", 0)) if self.params else 0
        self.resumed_from = epochs if state["finished"] else int(state["epoch"])
        # The mechanism of keras.callbacks.BackupAndRestore: fit starts at this epoch.
        self.model._initial_epoch = self.resumed_from
        log.info("%s: resuming after epoch %d", self.out_dir, state["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        self.stopper.on_epoch_end(epoch, logs)  # may set model.stop_training
        previous = self.state or {"rows": [], "best": None, "best_file": None, "best_epoch": None}
        current = logs.get(self.monitor)
        name = f"epoch-{epoch:04d}.npz"
        save_variables(self.backup_dir / name, self.model)
        best, best_file, best_epoch = previous["best"], previous["best_file"], previous["best_epoch"]
        if current is not None and np.isfinite(current) and (best is None or self._better(float(current), best)):
            best, best_file, best_epoch = float(current), name, epoch
        row = {"epoch": epoch, **{k: float(v) for k, v in logs.items() if np.ndim(v) == 0}}
        epochs = int(self.params.get("epochs", 0)) if self.params else 0
        state = {
            "version": STATE_VERSION,
            "key": self._full_key(),
            "epoch": epoch + 1,
            "latest": name,
            "best": best,
            "best_file": best_file,
            "best_epoch": best_epoch,
            "finished": bool(self.model.stop_training) or epoch + 1 >= epochs,
            "early_stopping": {
                "wait": int(self.stopper.wait),
                "best": None if self.stopper.best is None else float(self.stopper.best),
                "best_epoch": int(self.stopper.best_epoch),
                "stopped_epoch": int(self.stopper.stopped_epoch),
            },
            "rows": [*previous["rows"], row],
        }
        write_json(self.backup_dir / STATE_FILE, state)  # the commit point
        self.state = state
        self._write_log(state["rows"])
        self._cleanup(keep={name, best_file} - {None})

    def _better(self, value: float, best: float) -> bool:
        return value < best if self.mode == "min" else value > best

    def on_train_end(self, logs=None):
        self.model._initial_epoch = None
        state = self.state
        if state is None:
            return
        if self.restore_best and state.get("best_file"):
            load_variables(self.backup_dir / state["best_file"], self.model, optimizer=False)
            with atomic_path(self.out_dir / BEST_FILE) as tmp:
                keras_tmp = tmp.with_name(tmp.name + ".weights.h5")
                try:
                    self.model.save_weights(str(keras_tmp))
                    keras_tmp.replace(tmp)
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        keras_tmp.unlink()


__all__ = ["ResumableTraining", "save_variables", "load_variables", "variables_key", "STATE_VERSION"]
