"""Whole detection speed: audio seconds per wall-clock second of the paper's full Table 2 ensemble.

Usage: ``python benchmarks/bench_detection.py [--clips 10] [--seconds 30]``. Builds the six
paper-sized CRNNs of Table 2 (babycry tau 5, 9, 50; glassbreak 3; gunshot 3, 5) with random
weights, saves them as detector folders and loads them back as ``rsed detect`` does, writes
``--clips`` WAV files of ``--seconds`` s, warms up on one clip, then times
:func:`rsed.inference.detect.detect_files` on all of them: audio loading, log-mel features, every
model's sliding ensemble, the timestep ensembles and the event decisions. Prints detail lines,
then ``detection: ratio=X (target 60)`` with X the audio seconds per wall-clock second.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

TARGET = 60.0

#: Table 2 of the paper: the timestep ensemble of each class.
TABLE2 = {"babycry": (5, 9, 50), "glassbreak": (3,), "gunshot": (3, 5)}


def _write_clips(folder: Path, n: int, seconds: float, sample_rate: int) -> list[Path]:
    """Noise with a tone burst in the middle, 16-bit mono WAV, as DCASE mixtures are stored."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    paths = []
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    for i in range(n):
        y = 0.05 * rng.standard_normal(t.size)
        burst = (t > seconds / 2) & (t < seconds / 2 + 1.0)
        y[burst] += 0.3 * np.sin(2 * np.pi * (500 + 100 * i) * t[burst])
        path = folder / f"clip{i:02d}.wav"
        sf.write(path, y.astype(np.float32), sample_rate, subtype="PCM_16")
        paths.append(path)
    return paths


def _save_detectors(folder: Path) -> None:
    import keras

    from rsed.config import FeatureConfig, ModelConfig, TrainConfig
    from rsed.models.detector import DetectorSpec, save_detector
    from rsed.training.fit import build_model

    features = FeatureConfig()
    keras.utils.set_random_seed(0)
    for class_name, taus in TABLE2.items():
        for tau in taus:
            config = ModelConfig(timesteps=tau)
            model = build_model("crnn", config, features.frames_per_step, features.n_mels)
            spec = DetectorSpec(class_name, "crnn", config, features, TrainConfig(), (-40.0,) * features.n_mels, (15.0,) * features.n_mels)
            save_detector(folder / f"{class_name}_tau{tau}", model, spec)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)

    from rsed.config import FeatureConfig
    from rsed.inference.detect import detect_files, load_detectors

    with tempfile.TemporaryDirectory(prefix="rsed-bench-") as tmp:
        tmp = Path(tmp)
        _save_detectors(tmp / "models")
        clips = _write_clips(tmp, args.clips, args.seconds, FeatureConfig().sample_rate)
        start = time.perf_counter()
        detectors = load_detectors(tmp / "models")
        load_s = time.perf_counter() - start
        detect_files(clips[:1], detectors)  # warm up: compiled kernels, graph tracing
        start = time.perf_counter()
        rows = detect_files(clips, detectors)
        wall = time.perf_counter() - start
    audio = args.clips * args.seconds
    ratio = audio / wall
    n_models = sum(len(ensemble.specs) for ensemble in detectors.values())
    print(f"{n_models} paper-sized CRNNs (Table 2: {', '.join(f'{c} tau {list(t)}' for c, t in TABLE2.items())}), loaded in {load_s:.1f} s")
    print(f"{args.clips} clips x {args.seconds:g} s = {audio:g} s of audio detected in {wall:.2f} s ({len(rows)} file-class rows)")
    print(f"detection: ratio={ratio:.1f} (target {TARGET:g})")
    return {"ratio": ratio, "wall_s": wall, "audio_s": audio}


if __name__ == "__main__":
    main()
