"""A trained detector as a self-describing folder: weights, configuration and feature parameters.

``<folder>/model.keras`` (loadable with ``safe_mode=True``: no Lambda layers, no pickles) and
``<folder>/detector.json`` (class, architecture, model/feature/training configuration,
normalisation statistics, rsed version). ``rsed detect`` needs nothing else.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from .. import __version__
from ..config import FeatureConfig, ModelConfig, TrainConfig, from_dict
from ..errors import CacheError
from ..fileio import atomic_path, write_json

MODEL_FILE = "model.keras"
SPEC_FILE = "detector.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class DetectorSpec:
    """Everything needed to apply a detector to new audio."""

    class_name: str
    architecture: str
    model: ModelConfig
    features: FeatureConfig
    training: TrainConfig
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: Log-odds added to the output bias after training (prior correction, rsed.training.fit); already in the weights.
    logit_shift: float = 0.0

    @property
    def timesteps(self) -> int:
        return self.model.timesteps

    def normalise(self, logmel: np.ndarray) -> np.ndarray:
        """Standardise log-mel frames ``[T, n_mels]`` with the training-set statistics."""
        return ((logmel - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)).astype(np.float32)

    def to_json(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "rsed_version": __version__,
            "class_name": self.class_name,
            "architecture": self.architecture,
            "model": dataclasses.asdict(self.model),
            "features": dataclasses.asdict(self.features),
            "training": dataclasses.asdict(self.training),
            "normalisation": {"mean": list(map(float, self.mean)), "std": list(map(float, self.std))},
            "logit_shift": float(self.logit_shift),
        }

    @classmethod
    def from_json(cls, data: dict, path: Path) -> "DetectorSpec":
        if data.get("format_version") != FORMAT_VERSION:
            raise CacheError(path, f"detector format {data.get('format_version')!r}, this rsed reads {FORMAT_VERSION}")
        try:
            return cls(
                class_name=data["class_name"],
                architecture=data["architecture"],
                model=from_dict(ModelConfig, data["model"]),
                features=from_dict(FeatureConfig, data["features"]),
                training=from_dict(TrainConfig, data["training"]),
                mean=tuple(data["normalisation"]["mean"]),
                std=tuple(data["normalisation"]["std"]),
                logit_shift=float(data.get("logit_shift", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CacheError(path, f"malformed detector description ({exc})") from None


def save_model_folder(folder: str | Path, model: keras.Model, spec_file: str, description: dict) -> Path:
    """Write ``model`` then its ``description`` (JSON, in ``spec_file``); the description's presence marks the folder complete."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / MODEL_FILE) as tmp:
        keras_tmp = tmp.with_suffix(".keras")
        model.save(str(keras_tmp))
        keras_tmp.replace(tmp)
    write_json(folder / spec_file, description)
    return folder


def save_detector(folder: str | Path, model: keras.Model, spec: DetectorSpec) -> Path:
    """Write a detector folder: ``model.keras``, then ``detector.json``."""
    return save_model_folder(folder, model, SPEC_FILE, spec.to_json())


def is_complete(folder: str | Path, spec_file: str = SPEC_FILE) -> bool:
    """True when ``folder`` holds a finished model (its model file and its ``spec_file``)."""
    folder = Path(folder)
    return (folder / spec_file).is_file() and (folder / MODEL_FILE).is_file()


def load_spec(folder: str | Path) -> DetectorSpec:
    """Read ``detector.json`` with a clear error when it is missing or malformed."""
    path = Path(folder) / SPEC_FILE
    if not path.is_file():
        raise CacheError(Path(folder), f"not a detector folder (no {SPEC_FILE})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CacheError(path, f"not valid JSON ({exc})") from None
    return DetectorSpec.from_json(data, path)


def load_detector(folder: str | Path) -> tuple[keras.Model, DetectorSpec]:
    """Load a detector folder with Keras ``safe_mode=True`` (refuses embedded code)."""
    folder = Path(folder)
    spec = load_spec(folder)
    from . import layers  # noqa: F401  registers the custom layers before loading

    try:
        model = keras.saving.load_model(str(folder / MODEL_FILE), compile=False, safe_mode=True)
    except (OSError, ValueError, TypeError) as exc:
        raise CacheError(folder / MODEL_FILE, f"cannot load model ({exc})") from None
    return model, spec
