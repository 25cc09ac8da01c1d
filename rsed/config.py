"""All configuration in one place: frozen dataclasses with the paper's values as defaults.

Every choice the paper leaves open is documented in ``docs/interpretation.md``. Variants
(table rows, the demo schedule) are made with :func:`dataclasses.replace`, which rejects
unknown keys, so a misspelt setting is an error and never silently ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

DCASE2017_CLASSES = ("babycry", "glassbreak", "gunshot")

#: Event-presence thresholds t1 from section 2.5 of the paper; other classes default to 0.5.
PAPER_PRESENCE_THRESHOLDS = {"babycry": 0.8, "glassbreak": 0.8, "gunshot": 0.5}

#: Timesteps per class from Table 3 and the ensembles of Table 2.
PAPER_TIMESTEPS = {"babycry": (5, 9, 50), "glassbreak": (3,), "gunshot": (3, 5)}


def config_hash(obj: Any, length: int = 12) -> str:
    """Stable short hash of a dataclass (or any JSON-able value) for cache and run keys."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def from_dict(cls, data: Mapping[str, Any] | None):
    """Build dataclass ``cls`` from a mapping, raising ``ValueError`` on unknown keys."""
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} setting(s): {', '.join(unknown)}")
    for f in dataclasses.fields(cls):
        if f.name in data and isinstance(data[f.name], list):
            data[f.name] = tuple(data[f.name])
    return cls(**data)


@dataclass(frozen=True)
class MixtureConfig:
    """The DCASE 2017 Task 2 mixture recipe (NOTES section 3); defaults are the official ones."""

    seed: int = 42
    event_presence_prob: float = 0.5
    mixtures_per_class: int = 500
    ebrs: tuple[float, ...] = (-6.0, 0.0, 6.0)
    length_seconds: float = 30.0
    sample_rate: int = 44100
    anti_clipping_factor: float = 0.2


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel spectrogram parameters (paper section 2.1).

    46 ms window = 2048 samples at 44.1 kHz; 128 mel bands. The defaults are the short
    schedule's (and the model builders'): hop 1024 samples (23.2 ms, half the window) with 4
    frames per model step (92.9 ms), chosen for speed on the CPU. The paper schedule uses
    :data:`PAPER_FEATURES`, librosa's default hop of 512 samples with 8 frames per step (the
    same 92.9 ms steps). The hop, the frames per step and the log floor are our choices
    (docs/interpretation.md).
    """

    sample_rate: int = 44100
    n_fft: int = 2048
    hop_length: int = 1024
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = 22050.0
    power: float = 2.0
    amin: float = 1e-10
    frames_per_step: int = 4

    @property
    def frame_seconds(self) -> float:
        """Seconds between consecutive frames."""
        return self.hop_length / self.sample_rate

    @property
    def step_seconds(self) -> float:
        """Seconds covered by one model step (a chunk of ``frames_per_step`` frames)."""
        return self.frames_per_step * self.frame_seconds

    def key(self) -> str:
        """Hash naming the feature cache built with these parameters."""
        return config_hash(self)


#: The paper schedule's features: its 46 ms window and 128 mel bands are librosa's defaults at
#: 44.1 kHz, whose default hop is 512 samples (NOTES section 7); 8 frames make a 92.9 ms step.
PAPER_FEATURES = FeatureConfig(hop_length=512, frames_per_step=8)


@dataclass(frozen=True)
class ModelConfig:
    """CRNN hyperparameters (paper sections 2.2-2.4, Table 3)."""

    timesteps: int = 5
    conv_filters: int = 32
    conv_kernel: tuple[int, int] = (3, 3)
    spectral_filters: int = 64
    spectral_kernel: int = 3
    freq_pool: tuple[int, int] = (4, 4)
    rnn_units: int = 128
    dense_units: int = 128
    dropout: float = 0.3


@dataclass(frozen=True)
class TrainConfig:
    """Training schedule (Table 3): Adam, lr 0.001, Keras-2 decay 0.01, >= 100 epochs, patience 15.

    An epoch is ``steps_per_epoch`` batches; ``None`` (the paper schedule) means one pass over
    the training windows: the number of windows of the training set (hop one step over every
    clip at least tau steps long, ``WindowIndex.n_windows``) divided by ``batch_size``, rounded
    up. Under oversampling (``positive_fraction`` > 0) a pass draws that many windows with the
    sampler's batch composition, not every window exactly once.
    """

    learning_rate: float = 1e-3
    decay: float = 0.01
    min_epochs: int = 100
    max_epochs: int = 300
    patience: int = 15
    batch_size: int = 64
    steps_per_epoch: int | None = None
    #: Share of every batch drawn from the windows holding event steps (0: natural sampling,
    #: uniform over all windows). The paper names no remedy for the imbalance (docs/interpretation.md).
    positive_fraction: float = 0.3
    #: Shift the trained model's output logit so its probabilities refer to the natural share of
    #: event steps, not the oversampled batches (rsed.training.fit.sampling_logit_shift; no shift
    #: under natural sampling).
    prior_correction: bool = True
    seed: int = 1234
    schedule: str = "paper"
    #: 'default' (one device), 'mirrored' (this host's GPUs) or 'multiworker' (hosts in TF_CONFIG);
    #: ``batch_size`` is the global batch, split across the replicas (rsed/training/distribute.py).
    strategy: str = "default"
    #: Train in Keras' 'mixed_float16' policy (GPU only; ignored with a warning on the CPU).
    mixed_precision: bool = False
    #: Weight of the event steps in the binary cross-entropy (1: plain); with natural sampling, a weighted loss.
    pos_weight: float = 1.0

    def __post_init__(self):
        if not 0.0 <= self.positive_fraction <= 1.0:
            raise ValueError(f"positive_fraction must lie in [0, 1], got {self.positive_fraction}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be at least 1 (or None: one pass), got {self.steps_per_epoch}")

    def batches_per_epoch(self, n_windows: int) -> int:
        """Batches of one epoch: ``steps_per_epoch``, or one pass over ``n_windows`` training windows."""
        if self.steps_per_epoch is not None:
            return self.steps_per_epoch
        return max(1, math.ceil(n_windows / self.batch_size))


#: The short schedule of ``make demo``: few epochs, named as such in every output.
SHORT_TRAIN = TrainConfig(min_epochs=8, max_epochs=21, patience=3, steps_per_epoch=40, decay=0.001, schedule="short")


@dataclass(frozen=True)
class AugmentConfig:
    """Training beyond the paper (issue 17, docs/interpretation.md): every switch is off in the paper's rows.

    ``mix_on_the_fly``: every epoch trains on ``clips_per_epoch`` new clips of ``clip_seconds``
    mixed from the training *sources* (rsed/training/onthefly.py; EBR uniform in ``ebr_range`` dB, an
    event with probability ``clip_presence``) instead of the fixed training subset.
    ``chain``: each source goes through a random recording chain before mixing and the mixture
    gets a random level (rsed/training/augment.py; needs ``mix_on_the_fly``). ``mixture_prob``:
    the share of clips band-limited or MP3-coded as a whole, as phones and sensors record.
    ``spec``: SpecAugment time and frequency masks and band shifts on the training windows.
    """

    mix_on_the_fly: bool = False
    clips_per_epoch: int = 60
    clip_seconds: float = 10.0
    clip_presence: float = 0.5
    ebr_range: tuple[float, float] = (-6.0, 6.0)
    chain: bool = False
    #: Probability that each source (and the mixture's level) goes through its random chain when ``chain``.
    chain_prob: float = 1.0
    #: Probability that a clip mixed on the fly is band-limited (8, 16 or 22.05 kHz) or MP3-coded as a whole.
    mixture_prob: float = 0.0
    spec: bool = False
    spec_time_masks: int = 1
    spec_time_width: int = 4
    spec_freq_masks: int = 2
    spec_freq_width: int = 12
    spec_max_shift: int = 3


@dataclass(frozen=True)
class ValidationConfig:
    """Which data early stopping and the post-processing choices see (issue 17).

    ``source_disjoint`` False: the validation subset of the paper (the default devtrain mixtures,
    made from the training recordings). True: ``holdout_fraction`` of the training split's event
    recordings (per class) and backgrounds are held out of training (also out of the fixed
    training mixtures that use them) and ``mixtures_per_class`` validation mixtures are made
    from them by the official recipe (rsed/data/holdout.py), so validation error measures new recordings.
    """

    source_disjoint: bool = False
    holdout_fraction: float = 0.25
    mixtures_per_class: int = 60
    seed: int = 7


#: The recipe of the project's recommended detector, the row ``crnn_plus`` (issue 17,
#: docs/interpretation.md "A detector for recordings it has never heard"): what measured best on
#: the source-disjoint validation subset. Clips mixed anew every epoch, a fifth of them
#: band-limited or MP3-coded as a whole; validation on mixtures of held-out recordings.
PLUS_AUGMENT = AugmentConfig(mix_on_the_fly=True, mixture_prob=0.2)
PLUS_VALIDATION = ValidationConfig(source_disjoint=True)
#: The ``crnn_plus`` row's training in the short schedule, over the schedule's: twice the epochs.
#: Its clips are new every epoch, so it keeps improving where the fixed training subset overfits.
PLUS_SHORT_TRAINING = (("min_epochs", 16), ("max_epochs", 42), ("patience", 5))
#: Presence thresholds t1 the ``crnn_plus`` row tries on validation (with the look-back).
PLUS_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


#: How the onset is found before the peak (paper section 2.5: "a certain number of frames is checked
#: before the peak; the first frame with p > 0.5 is determined to be the onset"): 'earliest', the
#: first step above t2 anywhere in the look-back, also across a dip below t2 (the literal reading);
#: 'contiguous', the start of the run of steps above t2 that holds the peak (walking back from the
#: peak while p > t2).
ONSET_RULES = ("earliest", "contiguous")


@dataclass(frozen=True)
class PostprocessConfig:
    """Sliding-ensemble thresholds (paper section 2.5).

    ``presence_threshold`` is t1, ``onset_threshold`` t2; ``lookback_seconds`` is how far
    before the peak the onset is searched (not stated in the paper); ``onset_rule`` one of
    :data:`ONSET_RULES`.
    """

    presence_threshold: float = 0.5
    onset_threshold: float = 0.5
    lookback_seconds: float = 3.0
    onset_rule: str = "earliest"

    def __post_init__(self):
        if self.onset_rule not in ONSET_RULES:
            raise ValueError(f"unknown onset rule {self.onset_rule!r}; choose from {', '.join(ONSET_RULES)}")


def paper_postprocess(class_name: str) -> PostprocessConfig:
    """The paper's t1 for a DCASE class, 0.5 for any other class."""
    return PostprocessConfig(presence_threshold=PAPER_PRESENCE_THRESHOLDS.get(class_name, 0.5))


@dataclass(frozen=True)
class ScoringConfig:
    """sed_eval event-based settings of the DCASE 2017 Task 2 challenge (NOTES section 4)."""

    t_collar: float = 0.5
    percentage_of_length: float = 0.5
    evaluate_onset: bool = True
    evaluate_offset: bool = False


@dataclass(frozen=True)
class MiniDataConfig:
    """Size and kind of the embedded mini dataset (``rsed data mini``, docs/interpretation.md).

    ``held_out``: devtest sources hold event designs, recording conditions and background sounds
    that devtrain's never do (version 4's test of recordings never heard); False: both splits
    are draws of one distribution (other files, the same kinds), the in-distribution contrast.
    ``recording_chains``: each event file goes through its own room, microphone, rate and codec;
    False: dry 44.1 kHz events.
    """

    seed: int = 2017
    events_per_class_per_split: int = 36
    bgs_per_scene_per_split: int = 12
    background_seconds: float = 30.0
    sample_rate: int = 44100
    classes: tuple[str, ...] = DCASE2017_CLASSES
    held_out: bool = True
    recording_chains: bool = True


@dataclass(frozen=True)
class BaselineFeatureConfig:
    """Features of the DCASE 2017 challenge baseline (the paper's FNN row, NOTES section 5).

    40 ms asymmetric Hamming window (1764 samples) zero-padded to n_fft 2048, 20 ms hop
    (882 samples), magnitude spectrum, 40 Slaney mel bands over 0-22 050 Hz, natural log;
    ``context`` neighbouring frames (centred, edge-padded) are stacked into one input vector.
    """

    sample_rate: int = 44100
    n_fft: int = 2048
    win_length: int = 1764
    hop_length: int = 882
    n_mels: int = 40
    fmin: float = 0.0
    fmax: float = 22050.0
    power: float = 1.0
    window: str = "hamming"
    pad_mode: str = "reflect"
    context: int = 5

    @property
    def frame_seconds(self) -> float:
        """Seconds between consecutive frames (0.02 s)."""
        return self.hop_length / self.sample_rate

    @property
    def input_dim(self) -> int:
        """Length of one stacked input vector: ``n_mels * context`` (200)."""
        return self.n_mels * self.context

    def key(self) -> str:
        """Hash naming the feature cache built with these parameters."""
        return config_hash(["baseline", self])


@dataclass(frozen=True)
class BaselineModelConfig:
    """The baseline MLP: two hidden ReLU layers of 50 units, dropout 0.2, one sigmoid output."""

    hidden_units: tuple[int, ...] = (50, 50)
    dropout: float = 0.2


@dataclass(frozen=True)
class BaselineTrainConfig:
    """The baseline's training, as its final task 2 parameter set (``dcase2017``) has it.

    Adam (Keras 2.0's defaults: lr 0.001, epsilon 1e-8), batch 256, binary cross-entropy, at most
    200 epochs, seed 5, and the baseline's ``Stopper`` on the validation frame accuracy with its
    own counting: no decision during the first ``initial_delay + 1`` epochs, then a stop once
    ``patience`` epochs in a row have not beaten the best one by more than ``min_delta`` and the
    next does not either (training ends ``patience + 1`` epochs after the best). The weights of
    the last epoch are kept, as the baseline (no ``Stasher``); ``restore_best`` keeps the best
    epoch's instead. docs/models.md cites the baseline's file and line for each value.
    """

    learning_rate: float = 1e-3
    adam_epsilon: float = 1e-8
    batch_size: int = 256
    initial_delay: int = 100
    max_epochs: int = 200
    patience: int = 10
    min_delta: float = 0.0
    restore_best: bool = False
    seed: int = 5
    schedule: str = "paper"


#: The baseline's short schedule (demo data): at least 7 and at most 12 epochs, named as such in
#: every output.
SHORT_BASELINE_TRAIN = BaselineTrainConfig(initial_delay=2, max_epochs=12, patience=2, schedule="short")


@dataclass(frozen=True)
class BaselinePostprocessConfig:
    """The baseline's decision: frame probability > ``threshold``, median filter of
    ``median_seconds`` (27 frames of 20 ms), every contiguous active region is an event.

    ``max_events`` keeps only the longest regions of a clip (None: all, as the baseline did).
    """

    threshold: float = 0.5
    median_seconds: float = 0.54
    max_events: int | None = None


def as_dict(obj) -> dict:
    """``dataclasses.asdict`` that also accepts a plain mapping."""
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else dict(obj)


__all__ = [
    "DCASE2017_CLASSES",
    "PAPER_PRESENCE_THRESHOLDS",
    "PAPER_TIMESTEPS",
    "MixtureConfig",
    "FeatureConfig",
    "PAPER_FEATURES",
    "ModelConfig",
    "TrainConfig",
    "SHORT_TRAIN",
    "PostprocessConfig",
    "ONSET_RULES",
    "AugmentConfig",
    "ValidationConfig",
    "PLUS_AUGMENT",
    "PLUS_VALIDATION",
    "PLUS_SHORT_TRAINING",
    "PLUS_THRESHOLDS",
    "ScoringConfig",
    "MiniDataConfig",
    "BaselineFeatureConfig",
    "BaselineModelConfig",
    "BaselineTrainConfig",
    "SHORT_BASELINE_TRAIN",
    "BaselinePostprocessConfig",
    "paper_postprocess",
    "config_hash",
    "from_dict",
    "as_dict",
]
