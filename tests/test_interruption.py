"""Interrupted runs resume and end as uninterrupted ones; a killed writer never leaves a file that passes for complete.

Real kills (SIGKILL of a child process at a chosen moment) for the reproduction, the mixture
synthesis and the feature cache; in-process crashes at the commit points of a training
snapshot. The uninterrupted references run in this process.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import robustness_worker as worker  # tests/ is on sys.path (pytest's rootdir-relative import)
from rsed.config import FeatureConfig
from rsed.data.layout import find_mixture_sets, mixture_set
from rsed.features import build_cache, cache_path, read_cache

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(worker.__file__).resolve()


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return worker.make_data(tmp_path_factory.mktemp("data"))


def _spawn(job: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(WORKER), job, json.dumps(kwargs)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 600.0) -> None:
    """SIGKILL ``proc`` as soon as ``ready()`` is true (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait(timeout=60)


def _killed(proc: subprocess.Popen) -> None:
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    assert proc.returncode == -signal.SIGKILL, f"the child was not killed (exit {proc.returncode}):\n{stderr[-3000:]}"


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


# ----------------------------------------------------------------------------------------------
# The whole reproduction


def test_reproduce_killed_mid_training_finishes_with_the_same_tables(data_root, tmp_path):
    out, reference = tmp_path / "killed", tmp_path / "reference"
    detector = out / "models" / "cnn" / f"{worker.CLASS}_cnn_t3"
    proc = _spawn("reproduce", root=str(data_root), out=str(out), delay=0.5)
    # Kill once the detector has finished its first epoch (the features are done, the training is
    # in its second epoch). The reference runs meanwhile, in this process.
    killer = threading.Thread(target=_kill_when, args=(proc, lambda: (detector / "backup" / "state.json").is_file()))
    killer.start()
    worker.reproduce(str(data_root), str(reference))
    killer.join()
    _killed(proc)
    assert not (detector / "detector.json").exists() and not (out / "results").exists()
    state = json.loads((detector / "backup" / "state.json").read_text())
    assert 1 <= state["epoch"] < worker.TINY_TRAIN["max_epochs"] and not state["finished"]

    worker.reproduce(str(data_root), str(out))  # the restart

    results = out / "results"
    assert (results / "table4.csv").read_bytes() == (reference / "results" / "table4.csv").read_bytes()
    assert (results / "table4.md").read_bytes() == (reference / "results" / "table4.md").read_bytes()
    scores = [json.loads((r / "results" / "scores.json").read_text()) for r in (out, reference)]
    # the same scores (compared as JSON text: NaN F1 equals itself there); training times differ
    same = [json.dumps({row: [r["class_average"], {c: pc["scores"] for c, pc in r["per_class"].items()}] for row, r in s["rows"].items()}) for s in scores]
    assert same[0] == same[1]
    rows = _rows(detector / "train_log.csv")
    assert rows == _rows(reference / detector.relative_to(out) / "train_log.csv")
    assert [int(r[0]) for r in rows[1:]] == list(range(worker.TINY_TRAIN["max_epochs"]))  # every epoch once
    # The resumed detector is the uninterrupted one, weight for weight.
    import keras

    from rsed.models.detector import load_detector

    ours, theirs = (load_detector(r / detector.relative_to(out))[0] for r in (out, reference))
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    keras.backend.clear_session()


# ----------------------------------------------------------------------------------------------
# Training: a crash at each step of the per-epoch snapshot


def _crash_on_call(monkeypatch, module, name: str, call: int, garbage: list[Path]):
    """Make ``module.name`` raise on its ``call``-th call, leaving ``garbage`` as a kill mid-write would."""
    original = getattr(module, name)
    calls = {"n": 0}

    def wrapped(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            for path in garbage:
                path.write_bytes(b"half a file")
            raise KeyboardInterrupt("simulated kill")
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)


#: A tiny CNN whose early stopping ends the run after epoch 2 (the best loss is epoch 0's). Without
#: prior correction it watches the plain validation loss, which this setup makes rise after epoch 0.
CRASH_TRAIN = dict(max_epochs=6, min_epochs=1, patience=1, learning_rate=0.003, prior_correction=False)


def test_training_crashed_between_snapshot_and_commit_ends_as_an_uninterrupted_run(tmp_path, monkeypatch):
    import rsed.training.resume as resume

    reference = tmp_path / "reference"
    worker.train_tiny(str(reference), **CRASH_TRAIN)
    reference_rows = _rows(reference / "train_log.csv")
    assert 2 <= len(reference_rows) - 1 < CRASH_TRAIN["max_epochs"], "the reference must stop early to test early stopping"

    out = tmp_path / "run"
    backup = out / "backup"
    # Epoch 2's snapshot is written, its state not yet committed; a kill also left temporary files.
    _crash_on_call(monkeypatch, resume, "write_json", 3, [backup / ".state.json.x1y2.part", out / ".train_log.csv.x1y2.part"])
    with pytest.raises(KeyboardInterrupt):
        worker.train_tiny(str(out), **CRASH_TRAIN)
    monkeypatch.undo()
    state = json.loads((backup / "state.json").read_text())
    assert state["epoch"] == 2 and state["best_epoch"] == 0 and not state["finished"]
    assert (backup / "epoch-0002.npz").is_file()  # the uncommitted snapshot, not used
    assert len(_rows(out / "train_log.csv")) - 1 == 2

    worker.train_tiny(str(out), **CRASH_TRAIN)

    assert _rows(out / "train_log.csv") == reference_rows  # same epochs, same numbers: early stopping resumed
    with np.load(out / "final.npz") as ours, np.load(reference / "final.npz") as theirs:
        for name in theirs.files:
            np.testing.assert_array_equal(ours[name], theirs[name])  # the best epoch's weights
    assert not list(out.rglob("*.part"))
    # A finished run is loaded with its best weights, not trained again.
    state_time = (backup / "state.json").stat().st_mtime_ns
    (out / "final.npz").unlink()
    worker.train_tiny(str(out), **CRASH_TRAIN)
    assert (backup / "state.json").stat().st_mtime_ns == state_time
    with np.load(out / "final.npz") as ours, np.load(reference / "final.npz") as theirs:
        for name in theirs.files:
            np.testing.assert_array_equal(ours[name], theirs[name])


def _train_tiny_fnn(out: Path, **train):
    """A tiny FNN baseline on frames whose event frames are louder; final weights in ``out/final.npz``."""
    from rsed.config import BaselineTrainConfig
    from rsed.models import build_fnn
    from rsed.training.baseline import train_baseline

    def clips(n, seed):
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(n):
            frames, labels = rng.standard_normal((120, 4)).astype(np.float32), np.zeros(120, np.uint8)
            onset = int(rng.integers(10, 80))
            labels[onset : onset + 25] = 1
            frames[labels == 1] += 0.7
            out.append((frames, labels))
        return out

    import keras

    config = BaselineTrainConfig(**{"batch_size": 64, "initial_delay": 0, "max_epochs": 8, "patience": 1, "learning_rate": 0.01, **train})
    keras.utils.set_random_seed(config.seed)  # as rsed.run.members does before building the FNN
    model = build_fnn(input_dim=4 * 3, hidden_units=(8, 8))
    train_baseline(model, clips(6, 1), clips(3, 2), 3, config, out, verbose=0)
    np.savez(out / "final.npz", *[v.numpy() for v in model.variables])


def test_fnn_training_crashed_between_snapshot_and_commit_ends_as_an_uninterrupted_run(tmp_path, monkeypatch):
    # The baseline trains through ResumableTraining too, watching a validation accuracy (mode "max").
    import rsed.training.resume as resume

    reference = tmp_path / "reference"
    _train_tiny_fnn(reference)
    reference_rows = _rows(reference / "train_log.csv")
    state = json.loads((reference / "backup" / "state.json").read_text())
    assert state["best"] == max(float(row[reference_rows[0].index("val_binary_accuracy")]) for row in reference_rows[1:])

    out = tmp_path / "run"
    _crash_on_call(monkeypatch, resume, "write_json", 3, [out / "backup" / ".state.json.x1y2.part"])
    with pytest.raises(KeyboardInterrupt):
        _train_tiny_fnn(out)
    monkeypatch.undo()
    assert len(_rows(out / "train_log.csv")) - 1 == 2

    _train_tiny_fnn(out)

    assert _rows(out / "train_log.csv") == reference_rows  # same epochs, same numbers, no row twice
    with np.load(out / "final.npz") as ours, np.load(reference / "final.npz") as theirs:
        for name in theirs.files:
            np.testing.assert_array_equal(ours[name], theirs[name])  # the last epoch's weights, as the baseline keeps
    assert not (out / "best.weights.h5").exists() and not list(out.rglob("*.part"))


def _snapshot_weights(out: Path, epoch: int) -> list[np.ndarray]:
    with np.load(out / "backup" / f"epoch-{epoch:04d}.npz") as data:
        return [data[name] for name in sorted(data.files) if name.startswith("model_")]


def test_fnn_keeps_the_last_epochs_weights_as_the_baseline_and_the_best_only_when_asked(tmp_path):
    last, best = tmp_path / "last", tmp_path / "best"
    _train_tiny_fnn(last)
    _train_tiny_fnn(best, restore_best=True)
    state = json.loads((last / "backup" / "state.json").read_text())
    other = json.loads((best / "backup" / "state.json").read_text())
    assert [state[k] for k in ("rows", "best_epoch", "early_stopping")] == [other[k] for k in ("rows", "best_epoch", "early_stopping")]  # the same training either way
    assert state["best_epoch"] < state["epoch"] - 1, "the tiny run must stop after a worse epoch to tell the two apart"
    for out, epoch in ((last, state["epoch"] - 1), (best, state["best_epoch"])):
        with np.load(out / "final.npz") as final:
            weights = [final[name] for name in final.files]
        for ours, snapshot in zip(weights, _snapshot_weights(out, epoch), strict=True):
            np.testing.assert_array_equal(ours, snapshot)
    assert not (last / "best.weights.h5").exists() and (best / "best.weights.h5").is_file()


def test_training_state_of_another_configuration_or_version_is_ignored(tmp_path):
    import dataclasses

    from rsed.config import ModelConfig
    from rsed.training.fit import build_model
    from rsed.training.resume import ResumableTraining, save_variables, variables_key

    model = build_model("cnn", dataclasses.replace(ModelConfig(**worker.TINY_MODEL), timesteps=3), 8, 128, seed=1)
    backup = tmp_path / "backup"
    backup.mkdir()
    save_variables(backup / "epoch-0000.npz", model)
    state = {"version": 1, "key": variables_key(model, "config A"), "epoch": 1, "latest": "epoch-0000.npz", "best_file": None}
    (backup / "state.json").write_text(json.dumps(state))
    callback = ResumableTraining(tmp_path, key="config A")
    callback.set_model(model)
    assert callback.read_state() is not None
    for changed in ({"key": variables_key(model, "config B")}, {"version": 0}, {"latest": "epoch-0009.npz"}):
        (backup / "state.json").write_text(json.dumps({**state, **changed}))
        assert callback.read_state() is None
    (backup / "state.json").write_text('{"version": 1, "key": ')  # torn write: cannot happen with the atomic rename, but harmless
    assert callback.read_state() is None
    other = build_model("cnn", dataclasses.replace(ModelConfig(**{**worker.TINY_MODEL, "dense_units": 4}), timesteps=3), 8, 128, seed=1)
    (backup / "state.json").write_text(json.dumps(state))
    callback.set_model(other)
    assert callback.read_state() is None  # other variable shapes


# ----------------------------------------------------------------------------------------------
# Mixture synthesis and the feature cache, killed for real


def test_synthesis_killed_midway_resumes_and_is_never_listed_incomplete(data_root, tmp_path):
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    os.symlink(data_root / "data" / "source_data", root / "data" / "source_data")
    n = 40
    proc = _spawn("synthesize", root=str(root), n=n, seed=7, delay=0.1)
    audio_dirs = lambda: list((root / "data" / "mixture_data" / "train").glob("*/audio"))  # noqa: E731
    _kill_when(proc, lambda: any(len(list(d.glob("*.wav"))) >= 5 for d in audio_dirs()))
    _killed(proc)
    (audio,) = audio_dirs()
    written = sorted(audio.glob("*.wav"))
    assert 5 <= len(written) < n
    assert not find_mixture_sets(root, "train")  # no event list: the set is not complete
    worker.synthesize_subset(str(root), n=n, seed=7)
    (mset,) = find_mixture_sets(root, "train")
    assert len(mset.events()) == n and not list(audio.glob(".*.part"))
    reference = tmp_path / "reference"
    (reference / "data").mkdir(parents=True)
    os.symlink(data_root / "data" / "source_data", reference / "data" / "source_data")
    worker.synthesize_subset(str(reference), n=n, seed=7)
    assert _digest(root / "data" / "mixture_data") == _digest(reference / "data" / "mixture_data")


def test_pool_workers_die_with_a_killed_caller(tmp_path):
    """SIGKILL of a process running rsed.parallel.ordered_map takes its workers with it (they would hold its pipes open)."""
    proc = _spawn("pool", folder=str(tmp_path))
    # both pids written (a worker creates its file before it writes the pid: an empty file is not yet one)
    _kill_when(proc, lambda: len([p for p in tmp_path.glob("job*.pid") if p.read_text()]) >= 2, timeout=120)
    _killed(proc)  # reads stderr to its end: returns only once every holder of the pipe is gone
    pids = [int(p.read_text()) for p in tmp_path.glob("job*.pid") if p.read_text()]
    assert len(pids) == 2

    def alive(pid):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        return state != "Z"

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in pids)


def test_feature_cache_killed_midway_is_not_mistaken_for_complete(data_root, tmp_path):
    cache_dir = tmp_path / "cache"
    mset = mixture_set(data_root, "train", worker.CLASS)
    final = cache_path(mset, FeatureConfig(), cache_dir)
    proc = _spawn("build_cache", root=str(data_root), cache_dir=str(cache_dir), delay=0.5)
    _kill_when(proc, lambda: any(p.stat().st_size > 0 for p in cache_dir.glob(".*.part")) if cache_dir.is_dir() else False)
    _killed(proc)
    assert not final.exists() and list(cache_dir.glob(".*.part"))
    build_cache(mset, FeatureConfig(), cache_dir, workers=1, progress=False)
    assert not list(cache_dir.glob(".*.part"))  # the killed run's temporary file is gone
    reference = build_cache(mset, FeatureConfig(), tmp_path / "reference", workers=1, progress=False)
    for ours, theirs in zip(read_cache(final), read_cache(reference), strict=True):
        assert ours.filename == theirs.filename
        np.testing.assert_array_equal(ours.logmel, theirs.logmel)
