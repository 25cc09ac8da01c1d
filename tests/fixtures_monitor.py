"""Detectors and a 20-mixture stream for the monitor tests (tests/test_monitor.py).

The tiny run of ``fixtures_run.py`` trains for seconds and its output is flat: after prior
correction no probability comes near t1 and the little variation there is follows the
backgrounds, not the events. So the monitor tests build their detectors the fast way: the
paper's CRNN layers (a TimeDistributed convolution chain, two backward LSTMs, the dense
head), tiny, with weights set so that each step's output is a loudness detector:

- ``conv1`` passes the normalised log-mel through (centre tap 1), ReLU keeps what lies above
  the per-band level (the normalisation mean); ``conv2`` averages three pooled bands;
- LSTM 1 reads the top pooled band only (the 16 highest mel bands, where the mini gunshots'
  crack stands out and most backgrounds are quiet) and accumulates ``tanh(gain * loudness)``
  backwards in time with forget gate
  ``forget`` (so a window's output at a step depends on the steps after it in the window,
  as a trained backward LSTM's does), LSTM 2 and the dense layer pass it on;
- the output unit is ``sigmoid(slope * (z - threshold))``.

"Training" fits the two data-dependent numbers on training mixtures (never on the test
stream): the per-band level is a high percentile of the training log-mel, the threshold lies
midway between the loudest steps outside the events (99.9th percentile) and the median event
peak of the training mixtures. Events are mixed at 6 and 12 dB EBR, so that the detectors
find several of them; they still miss some and fire once per found event, which is the
regime in which a stream's events and per-clip decisions can agree (docs/analysis.md).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import soundfile as sf

from rsed.config import FeatureConfig, MiniDataConfig, MixtureConfig, ModelConfig, TrainConfig
from rsed.data.mini import generate_mini
from rsed.data.mixing import synthesize
from rsed.features import frame_labels, logmel, to_steps
from rsed.models import build_crnn
from rsed.models.detector import DetectorSpec, save_detector

FEATURES = FeatureConfig()
MODEL = ModelConfig(conv_filters=2, spectral_filters=2, rnn_units=2, dense_units=2)
#: The monitor tests' ensembles: a two-member gunshot ensemble (t1 = t2 = 0.5) and a glassbreak
#: detector (t1 0.8 > t2 0.5) made the same way, both applied to the same stream.
ENSEMBLES = {"gunshot": (2, 3), "glassbreak": (3,)}
#: Source data: the mini generator's gunshots over 30 s backgrounds, dry and without the held-out
#: devtest sounds (``held_out=False, recording_chains=False``): the loudness detectors then fire
#: once per found event and on little else, the regime in which stream and per-clip decisions can
#: agree (the long reverberant tails and unseen impulsive distractors of the full mini data make
#: several excursions per clip, where the two rules must differ: docs/analysis.md).
MINI = MiniDataConfig(events_per_class_per_split=3, bgs_per_scene_per_split=1, background_seconds=30.0, classes=("gunshot",), held_out=False, recording_chains=False)
STREAM_MIXTURES = 20
#: Event-to-background ratios of the training and test mixtures (dB).
EBRS = (6.0, 12.0)
CLIP_SECONDS = 30.0
LEVEL_PERCENTILE = 99.0
LEVEL_STD_DB = 10.0
#: Steepness of the output unit: events end up only a little above the fitted threshold (the
#: backward LSTM saturates on every loud step), so a steep slope puts their peaks above t1 = 0.8.
SLOPE = 200.0


def loudness_crnn(tau: int, *, gain: float = 1.0, forget: float = 0.0, slope: float = 1.0, threshold: float = 0.0):
    """The tiny CRNN of the module docstring for windows of ``tau`` steps."""
    model = build_crnn(timesteps=tau, frames_per_step=FEATURES.frames_per_step, n_mels=FEATURES.n_mels, **_sizes())
    layers = {layer.name: getattr(layer, "layer", layer) for layer in model.layers}
    for name in ("conv1_bn", "conv2_bn", "fc_bn"):
        gamma, beta, mean, var = (np.zeros_like(w) for w in layers[name].get_weights())
        layers[name].set_weights([gamma + 1, beta, mean, var + 1])
    conv1 = np.zeros_like(layers["conv1"].get_weights()[0])  # (3, 3, 1, c1)
    conv1[1, 1, 0, 0] = 1.0
    layers["conv1"].set_weights([conv1])
    conv2 = np.zeros_like(layers["conv2"].get_weights()[0])  # (1, 3, c1, c2)
    conv2[0, :, 0, 0] = 1.0 / 3.0
    layers["conv2"].set_weights([conv2])
    units, width = MODEL.rnn_units, layers["lstm1_backward"].get_weights()[0].shape[0]
    bands = width // (FEATURES.frames_per_step * MODEL.spectral_filters)
    top = np.arange(FEATURES.frames_per_step) * bands * MODEL.spectral_filters + (bands - 1) * MODEL.spectral_filters  # (frame, band, channel) order
    _set_lstm(layers["lstm1_backward"], units, rows=top, weight=gain / top.size, forget=forget)
    _set_lstm(layers["lstm2_backward"], units, rows=np.array([0]), weight=2.0, forget=-6.0)
    fc = np.zeros_like(layers["fc"].get_weights()[0])
    fc[0, 0] = 1.0
    layers["fc"].set_weights([fc])
    kernel, bias = (np.zeros_like(w) for w in layers["output"].get_weights())
    kernel[0, 0], bias[0] = slope, -slope * threshold
    layers["output"].set_weights([kernel, bias])
    return model


def _sizes() -> dict:
    return {k: getattr(MODEL, k) for k in ("conv_filters", "spectral_filters", "rnn_units", "dense_units")}


def _set_lstm(layer, units: int, *, rows: np.ndarray, weight: float, forget: float) -> None:
    """Unit 0 only: input and output gates open, forget gate ``sigmoid(forget)``, candidate ``tanh(weight * sum(x[rows]))``."""
    kernel, recurrent, bias = (np.zeros_like(w) for w in layer.get_weights())
    kernel[rows, 2 * units] = weight
    bias[0], bias[units], bias[3 * units] = 6.0, forget, 6.0  # gates i, f, c, o
    layer.set_weights([kernel, recurrent, bias])


def _mixtures(root: Path, subset: str, split: str, n: int, seed: int, presence: float) -> list[tuple[np.ndarray, float | None, float | None]]:
    config = MixtureConfig(seed=seed, mixtures_per_class=n, length_seconds=CLIP_SECONDS, event_presence_prob=presence, ebrs=EBRS)
    mixture_set = synthesize(root, subset, split, config, classes=["gunshot"], progress=False, workers=1)[0]
    events = sorted(mixture_set.events(), key=lambda e: e.filename)
    return [(sf.read(mixture_set.audio_dir / e.filename, dtype="float32")[0], e.onset, e.offset) for e in events]


def fit_detectors(root: Path, models: Path) -> None:
    """Fit the loudness detectors on training mixtures of ``root`` and save them under ``models``."""
    train = _mixtures(root, "monitortrain", "devtrain", 8, 4242, presence=1.0)
    logmels = [logmel(y, FEATURES) for y, _, _ in train]
    level = np.percentile(np.concatenate(logmels), LEVEL_PERCENTILE, axis=0).astype(np.float32)
    std = np.full_like(level, LEVEL_STD_DB)
    steps, labels = zip(*(to_steps((mel - level) / std, frame_labels(len(mel), on, off, FEATURES), FEATURES.frames_per_step) for mel, (_, on, off) in zip(logmels, train, strict=True)), strict=True)
    for class_name, taus in ENSEMBLES.items():
        for tau in taus:
            z = _loudness(loudness_crnn(tau), np.concatenate(steps))
            positive = np.concatenate(labels).astype(bool)
            peaks = [zc[lab.astype(bool)].max() for zc, lab in zip(np.split(z, np.cumsum([len(x) for x in labels])[:-1]), labels, strict=True)]
            threshold = 0.5 * (np.percentile(z[~positive], 99.9) + np.median(peaks))
            model = loudness_crnn(tau, slope=SLOPE, threshold=float(threshold))
            spec = DetectorSpec(class_name, "crnn", dataclasses.replace(MODEL, timesteps=tau), FEATURES, TrainConfig(), tuple(map(float, level)), tuple(map(float, std)))
            save_detector(models / f"{class_name}_crnn_t{tau}", model, spec)


def _loudness(model, steps: np.ndarray) -> np.ndarray:
    """z of every step (the output's logit at slope 1, threshold 0), through the sliding ensemble."""
    from rsed.inference.sliding import predict_steps

    p = np.clip(predict_steps(model, steps), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def build(base: Path) -> dict:
    """Source data, fitted detectors and the 20-mixture stream under ``base`` (reused when there)."""
    root, models, stream = base / "monitor_mini", base / "monitor_models", base / "monitor_stream.wav"
    if not stream.is_file():
        generate_mini(root, MINI, progress=False, workers=1)
        fit_detectors(root, models)
        test = _mixtures(root, "monitortest", "devtest", STREAM_MIXTURES, 7, presence=0.5)
        sf.write(stream, np.concatenate([y for y, _, _ in test]), FEATURES.sample_rate, subtype="PCM_24")
    return {"root": root, "models": models, "stream": stream}
