"""A tiny finished run over the embedded mini data, shared by the detection and notebook tests.

Built once per test session under pytest's base temporary folder: the first module that asks
builds it, later modules find ``results/scores.json`` and reuse it (``rsed.run.pipeline.run`` is
resumable, so a half-built folder is completed, never trusted).
"""

from __future__ import annotations

from pathlib import Path

from rsed.config import MiniDataConfig, MixtureConfig, ModelConfig, TrainConfig
from rsed.data.mini import generate_mini
from rsed.data.mixing import synthesize
from rsed.run.pipeline import run
from rsed.run.rows import Experiment

TINY_MODEL = ModelConfig(conv_filters=4, spectral_filters=4, rnn_units=8, dense_units=8)
#: Two short epochs; a high learning rate and 80 % event windows push the probabilities over
#: gunshot's t1 (0.5), so the run writes events (mostly misplaced ones) for the tests to compare.
TINY_TRAIN = TrainConfig(learning_rate=0.01, positive_fraction=0.8, min_epochs=1, max_epochs=2, patience=2, steps_per_epoch=4, batch_size=16, schedule="short")
CLASSES = ["gunshot"]
#: A two-member timestep ensemble, as Table 2 has for gunshot.
EXPERIMENT = Experiment(timesteps=(("gunshot", (2, 3)),), model=TINY_MODEL, training=TINY_TRAIN)
CLIP_SECONDS = 10.0


def tiny_run(base: Path) -> tuple[Path, Path]:
    """``(data_root, run_folder)`` of a finished tiny run under ``base`` (built when missing)."""
    root, out = base / "tiny_mini", base / "tiny_run"
    if (out / "results" / "scores.json").is_file():
        return root, out
    mini = MiniDataConfig(events_per_class_per_split=3, bgs_per_scene_per_split=1, background_seconds=CLIP_SECONDS, classes=tuple(CLASSES))
    generate_mini(root, mini, progress=False)
    for subset, split, n, seed in (("train", "devtrain", 6, 4242), ("devtrain", "devtrain", 4, 42), ("devtest", "devtest", 8, 42)):
        config = MixtureConfig(seed=seed, mixtures_per_class=n, length_seconds=CLIP_SECONDS)
        synthesize(root, subset, split, config, classes=CLASSES, progress=False)
    run(root, out, EXPERIMENT, classes=CLASSES, workers=1)
    return root, out
