"""A trained challenge baseline (the FNN row) as a folder: ``model.keras`` and ``baseline.json``.

A format of its own that ``rsed detect`` ignores, so a run's CRNN folders are never mixed with
it; written and read with the helpers of :mod:`rsed.models.detector`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from ..config import BaselineFeatureConfig, BaselineModelConfig, BaselineTrainConfig, from_dict
from ..errors import CacheError
from ..version import __version__
from .detector import MODEL_FILE, is_complete, save_model_folder

FORMAT_VERSION = 1
SPEC_FILE = "baseline.json"


@dataclass(frozen=True)
class BaselineSpec:
    """Everything needed to apply a trained baseline to new audio."""

    class_name: str
    features: BaselineFeatureConfig
    model: BaselineModelConfig
    training: BaselineTrainConfig
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def normalise(self, logmel: np.ndarray) -> np.ndarray:
        """Standardise log mel frames ``[T, n_mels]`` with the training-set statistics."""
        return ((logmel - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)).astype(np.float32)

    def to_json(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "rsed_version": __version__,
            "class_name": self.class_name,
            "architecture": "fnn",
            "features": dataclasses.asdict(self.features),
            "model": dataclasses.asdict(self.model),
            "training": dataclasses.asdict(self.training),
            "normalisation": {"mean": list(map(float, self.mean)), "std": list(map(float, self.std))},
        }

    @classmethod
    def from_json(cls, data: dict, path: Path) -> "BaselineSpec":
        if data.get("format_version") != FORMAT_VERSION:
            raise CacheError(path, f"baseline format {data.get('format_version')!r}, this rsed reads {FORMAT_VERSION}")
        try:
            return cls(
                class_name=data["class_name"],
                features=from_dict(BaselineFeatureConfig, data["features"]),
                model=from_dict(BaselineModelConfig, data["model"]),
                training=from_dict(BaselineTrainConfig, data["training"]),
                mean=tuple(data["normalisation"]["mean"]),
                std=tuple(data["normalisation"]["std"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CacheError(path, f"malformed baseline description ({exc})") from None


def save_baseline(folder: str | Path, model: keras.Model, spec: BaselineSpec) -> Path:
    """Write a baseline folder: ``model.keras``, then ``baseline.json``."""
    return save_model_folder(folder, model, SPEC_FILE, spec.to_json())


def is_complete_baseline(folder: str | Path) -> bool:
    """True when ``folder`` holds a finished baseline."""
    return is_complete(folder, SPEC_FILE)


def load_baseline(folder: str | Path) -> tuple[keras.Model, BaselineSpec]:
    """Load a baseline folder (Keras ``safe_mode=True``) with a clear error when it is unusable."""
    folder = Path(folder)
    path = folder / SPEC_FILE
    if not path.is_file():
        raise CacheError(folder, f"not a baseline folder (no {SPEC_FILE})")
    try:
        spec = BaselineSpec.from_json(json.loads(path.read_text(encoding="utf-8")), path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CacheError(path, f"not valid JSON ({exc})") from None
    try:
        model = keras.saving.load_model(str(folder / MODEL_FILE), compile=False, safe_mode=True)
    except (OSError, ValueError, TypeError) as exc:
        raise CacheError(folder / MODEL_FILE, f"cannot load model ({exc})") from None
    return model, spec


__all__ = ["BaselineSpec", "save_baseline", "load_baseline", "is_complete_baseline"]
