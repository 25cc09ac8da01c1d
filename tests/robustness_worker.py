"""Jobs the robustness tests run in a child process (to kill it, or to keep process-global settings out of pytest).

``python tests/robustness_worker.py JOB JSON`` runs one job; the tests import the same
builders to run the uninterrupted reference in-process. Nothing here asserts anything.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

TINY_MODEL = dict(conv_filters=4, spectral_filters=4, rnn_units=8, dense_units=8)
TINY_TRAIN = dict(min_epochs=1, max_epochs=3, patience=1, steps_per_epoch=3, batch_size=16, schedule="short")
MINI = dict(events_per_class_per_split=3, bgs_per_scene_per_split=1, background_seconds=10.0)
#: (subset, source split, mixtures per class, seed) of the tiny reproduction data.
SUBSETS = (("train", "devtrain", 6, 4242), ("devtrain", "devtrain", 4, 42), ("devtest", "devtest", 4, 42))
CLASS = "glassbreak"
MIXTURE_SECONDS = 5.0


def make_data(root: Path) -> Path:
    """Mini sources and three tiny mixture subsets of one class (no TensorFlow)."""
    from rsed.config import MiniDataConfig, MixtureConfig
    from rsed.data.mini import generate_mini
    from rsed.data.mixing import synthesize

    generate_mini(root, MiniDataConfig(**MINI), progress=False)
    for subset, split, n, seed in SUBSETS:
        synthesize(root, subset, split, MixtureConfig(seed=seed, mixtures_per_class=n, length_seconds=MIXTURE_SECONDS), classes=[CLASS], progress=False)
    return root


def experiment():
    """One tiny CNN detector (tau 3) for one class, three short epochs (a CNN traces twice as fast as a CRNN)."""
    from rsed.config import ModelConfig, TrainConfig
    from rsed.run.rows import Experiment

    return Experiment(name="CNN", architecture="cnn", timesteps=((CLASS, (3,)),), model=ModelConfig(**TINY_MODEL), training=TrainConfig(**TINY_TRAIN))


def _slow_down(module, name: str, seconds: float) -> None:
    """Sleep ``seconds`` before each call of ``module.name`` (so a kill lands mid-way; results unchanged)."""
    import time

    original = getattr(module, name)

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return original(*args, **kwargs)

    setattr(module, name, slow)


def reproduce(root: str, out: str, delay: float = 0.0) -> None:
    from rsed.features import windows
    from rsed.run.pipeline import run
    from rsed.training import streaming

    if delay:  # training batches come from memory or, in reproduce, streamed from the cache
        _slow_down(windows.WindowSampler, "batch", delay)
        _slow_down(streaming.CacheWindowSampler, "batch", delay)
    run(root, out, experiment(), workers=1)


def synthesize_subset(root: str, n: int, seed: int, delay: float = 0.0) -> None:
    from rsed.config import MixtureConfig
    from rsed.data.mixing import render, synthesize

    if delay:
        _slow_down(render, "render_recipe", delay)
    # In-process (workers=1): the slowed-down render_recipe exists in this process only.
    synthesize(root, "train", "devtrain", MixtureConfig(seed=seed, mixtures_per_class=n, length_seconds=MIXTURE_SECONDS), classes=[CLASS], progress=False, workers=1)


def build_cache(root: str, cache_dir: str, delay: float = 0.0) -> None:
    from rsed.config import FeatureConfig
    from rsed.data.layout import mixture_set
    from rsed.features import build_cache as build
    from rsed.features import cache

    if delay:
        _slow_down(cache, "extract_file", delay)

    build(mixture_set(root, "train", CLASS), FeatureConfig(), cache_dir, workers=1, progress=False)


def train_twice_deterministic(out: str) -> None:
    """Two trainings with the same seed in one process with TensorFlow's deterministic ops on."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    for name in ("first", "second"):
        train_tiny(str(Path(out) / name), architecture="crnn")


def sequences(n: int, seed: int):
    """``n`` synthetic clips of 40 steps with a 5-step event (no audio needed)."""
    import numpy as np

    from rsed.features.windows import StepSequence

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        steps = rng.normal(size=(40, 8, 128)).astype(np.float32)
        labels = np.zeros(40, np.uint8)
        labels[10 + i : 15 + i] = 1
        steps[labels == 1] += 0.5
        out.append(StepSequence(f"clip{i}", steps, labels))
    return out


def train_tiny(out: str, architecture: str = "cnn", **train):
    """A tiny CNN (or CRNN) trained on synthetic clips; its variables go to ``out/final.npz``; returns the model."""
    import dataclasses

    import numpy as np

    from rsed.config import ModelConfig, TrainConfig
    from rsed.training.fit import build_model, train_detector

    config = TrainConfig(**{**TINY_TRAIN, "max_epochs": 5, "patience": 1, **train})
    model = build_model(architecture, dataclasses.replace(ModelConfig(**TINY_MODEL), timesteps=3), 8, 128, seed=config.seed)
    train_detector(model, sequences(6, 1), sequences(3, 2), config, out, verbose=0)
    np.savez(Path(out) / "final.npz", *[v.numpy() for v in model.variables])
    return model


def _sleep_in_pool(path: str) -> str:
    """Pool job: record this worker's pid in ``path``, then block (until killed)."""
    import time

    Path(path).write_text(str(os.getpid()))
    time.sleep(120)
    return path


def pool(folder: str) -> None:
    """Four blocking jobs on two pool workers (rsed.parallel), each writing its worker's pid into ``folder``."""
    from rsed.parallel import ordered_map

    for _ in ordered_map(_sleep_in_pool, [str(Path(folder) / f"job{i}.pid") for i in range(4)], 2):
        pass


JOBS = {
    "pool": pool,
    "reproduce": reproduce,
    "synthesize": synthesize_subset,
    "build_cache": build_cache,
    "train_twice_deterministic": train_twice_deterministic,
}

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    JOBS[sys.argv[1]](**json.loads(sys.argv[2]))
