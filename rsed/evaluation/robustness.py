"""False alarms on band-limited and lossy copies of event-free clips (issue 17's band-limit check).

Real recordings are often band-limited (phones, 16 kHz sensors) or lossy-coded, and a detector
that learnt "a full-band 44.1 kHz recording" as part of "no event" fires on them: with the
paper's short-schedule detectors, resampling the mini devtest's empty clips to 16 kHz turned 6
detections into 27. :func:`false_alarm_rates` applies each class's ensemble to the event-free
clips as they are and after each of :data:`TRANSFORMS`, and counts the clips it fires on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..audio import load_audio
from ..data.chain import band_limit, mp3_round_trip
from ..features.spectrogram import logmel
from ..inference.postprocessing import detect_event
from ..inference.sliding import clip_probabilities


def _resampled(rate: int) -> Callable[[np.ndarray, int], np.ndarray]:
    def transform(y: np.ndarray, sr: int) -> np.ndarray:
        return band_limit(band_limit(np.asarray(y, np.float64), sr, rate), rate, sr)[: y.size]

    return transform


#: The copies the check makes of each clip: ``name -> f(samples, rate) -> samples at the same rate``.
TRANSFORMS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "original": lambda y, sr: y,
    "16 kHz": _resampled(16000),
    "8 kHz": _resampled(8000),
    "MP3": lambda y, sr: mp3_round_trip(np.asarray(y, np.float64), sr, 0.9),
}


@dataclass(frozen=True)
class FalseAlarms:
    """How often one class's ensemble fired on event-free clips under one transform."""

    class_name: str
    transform: str
    clips: int
    fired: int

    @property
    def per_clip(self) -> float:
        return self.fired / self.clips if self.clips else float("nan")


def fires(ensemble, y: np.ndarray) -> bool:
    """Whether ``ensemble`` (:class:`rsed.inference.detect.Ensemble`) detects an event in samples ``y`` at its rate."""
    probs = clip_probabilities(ensemble.members, logmel(np.asarray(y, np.float32), ensemble.features))
    return detect_event(probs, ensemble.features.step_seconds, ensemble.postprocess) is not None


def false_alarm_rates(ensembles: dict, clips: list[Path], transforms: dict = TRANSFORMS) -> list[FalseAlarms]:
    """Every class's ensemble on every event-free clip under every transform: one :class:`FalseAlarms` each."""
    rates = []
    sample_rate = next(iter(ensembles.values())).features.sample_rate
    audio = [load_audio(path, sample_rate=sample_rate) for path in clips]
    for name, transform in transforms.items():
        copies = [transform(y, sample_rate) for y in audio]
        for class_name, ensemble in sorted(ensembles.items()):
            rates.append(FalseAlarms(class_name, name, len(copies), sum(fires(ensemble, y) for y in copies)))
    return rates


__all__ = ["TRANSFORMS", "FalseAlarms", "fires", "false_alarm_rates"]
