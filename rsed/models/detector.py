"""A trained detector as a self-describing folder: weights, configuration, features and its decisions.

``<folder>/model.keras``
    the Keras model (loadable with ``safe_mode=True``: no Lambda layers, no pickles, no closures;
    after ``import rsed`` also by ``keras.saving.load_model`` with its default ``compile=True``).
``<folder>/detector.json``
    everything a decision depends on (:class:`DetectorSpec`): class, architecture, training
    recipe, model/feature/training configuration, normalisation statistics, the logit shift of
    the prior correction, the length of the training clips, which training data it saw, and the
    decision settings (t1, t2, look-back, ...) a run chose on its validation subset for each
    ensemble this detector belongs to. ``rsed detect`` reads nothing else, so a folder copied
    anywhere decides exactly as it did in its run.

Format 2 (this rsed) adds the recipe, the clip length, the training data and the decisions to
format 1, which is still read (without them: the paper's defaults apply).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import FeatureConfig, ModelConfig, PostprocessConfig, TrainConfig, from_dict
from ..errors import CacheError
from ..fileio import atomic_path, write_json
from ..version import __version__

if TYPE_CHECKING:  # Keras is imported when a model is saved or loaded, not to read a description
    import keras

MODEL_FILE = "model.keras"
SPEC_FILE = "detector.json"
FORMAT_VERSION = 2
#: Formats this rsed reads.
READABLE_VERSIONS = (1, 2)


def ensemble_key(timesteps) -> str:
    """The name of an ensemble by its members' timesteps, sorted: ``t5``, ``t3+t5``, ``t5+t9+t50``."""
    return "+".join(f"t{int(t)}" for t in sorted(timesteps))


@dataclass(frozen=True)
class Decision:
    """The decision settings one ensemble uses: the post-processing and where they come from.

    ``postprocess`` holds every field of :class:`~rsed.config.PostprocessConfig` (whatever fields
    it has: they are written and read with ``dataclasses.asdict`` and ``from_dict``); ``rows``
    the rows of the run that chose them; ``chosen_on`` the validation subset they were chosen on
    (None: the row's defaults, nothing was chosen).
    """

    postprocess: PostprocessConfig
    rows: tuple[str, ...] = ()
    chosen_on: str | None = None

    def to_json(self) -> dict:
        return {"postprocess": dataclasses.asdict(self.postprocess), "rows": list(self.rows), "chosen_on": self.chosen_on}

    @classmethod
    def from_json(cls, data: dict) -> "Decision":
        return cls(from_dict(PostprocessConfig, data["postprocess"]), tuple(str(r) for r in data.get("rows", ())), data.get("chosen_on"))


@dataclass(frozen=True)
class DetectorSpec:
    """Everything needed to apply a detector to new audio and decide as its run did."""

    class_name: str
    architecture: str
    model: ModelConfig
    features: FeatureConfig
    training: TrainConfig
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: Log-odds added to the output bias after training (prior correction, rsed.training.fit); already in the weights.
    logit_shift: float = 0.0
    #: The training recipe: "" for the paper's, else its name (e.g. "plus"; docs/models.md).
    recipe: str = ""
    #: Length of the training mixtures in seconds (None: not recorded, format 1); ``rsed detect``
    #: decides long recordings in segments of this length.
    clip_seconds: float | None = None
    #: Which data it was trained on: ``(("class", c), ("train_subset", s), ("train_cache", name:fingerprint), ...)``.
    training_data: tuple[tuple[str, str], ...] = ()
    #: ``((ensemble key, Decision), ...)``: the settings chosen for each ensemble it belongs to (:func:`ensemble_key`).
    decisions: tuple[tuple[str, Decision], ...] = ()

    @property
    def timesteps(self) -> int:
        return self.model.timesteps

    def decision(self, key: str) -> Decision | None:
        """The decision settings recorded for the ensemble ``key``, or None."""
        return dict(self.decisions).get(key)

    def with_decision(self, key: str, decision: Decision) -> "DetectorSpec":
        """This spec with ``decision`` recorded for ensemble ``key`` (replacing what was there)."""
        decisions = dict(self.decisions)
        decisions[key] = decision
        return dataclasses.replace(self, decisions=tuple(sorted(decisions.items())))

    def normalise(self, logmel: np.ndarray) -> np.ndarray:
        """Standardise log-mel frames ``[T, n_mels]`` with the training-set statistics."""
        return ((logmel - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)).astype(np.float32)

    def to_json(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "rsed_version": __version__,
            "class_name": self.class_name,
            "architecture": self.architecture,
            "recipe": self.recipe,
            "model": dataclasses.asdict(self.model),
            "features": dataclasses.asdict(self.features),
            "training": dataclasses.asdict(self.training),
            "normalisation": {"mean": list(map(float, self.mean)), "std": list(map(float, self.std))},
            "logit_shift": float(self.logit_shift),
            "clip_seconds": None if self.clip_seconds is None else float(self.clip_seconds),
            "training_data": dict(self.training_data),
            "decisions": {key: decision.to_json() for key, decision in self.decisions},
        }

    @classmethod
    def from_json(cls, data: dict, path: Path) -> "DetectorSpec":
        version = data.get("format_version")
        if version not in READABLE_VERSIONS:
            raise CacheError(path, f"detector format {version!r}, this rsed reads {', '.join(map(str, READABLE_VERSIONS))}")
        try:
            clip = data.get("clip_seconds")
            return cls(
                class_name=data["class_name"],
                architecture=data["architecture"],
                model=from_dict(ModelConfig, data["model"]),
                features=from_dict(FeatureConfig, data["features"]),
                training=from_dict(TrainConfig, data["training"]),
                mean=tuple(data["normalisation"]["mean"]),
                std=tuple(data["normalisation"]["std"]),
                logit_shift=float(data.get("logit_shift", 0.0)),
                recipe=str(data.get("recipe") or ""),
                clip_seconds=None if clip is None else float(clip),
                training_data=tuple(sorted((str(k), str(v)) for k, v in (data.get("training_data") or {}).items())),
                decisions=tuple(sorted((str(k), Decision.from_json(v)) for k, v in (data.get("decisions") or {}).items())),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
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


def save_spec(folder: str | Path, spec: DetectorSpec) -> None:
    """Rewrite ``detector.json`` atomically (the model and the run's key of the detector are untouched)."""
    write_json(Path(folder) / SPEC_FILE, spec.to_json())


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
    if not isinstance(data, dict):
        raise CacheError(path, "malformed detector description (not a JSON object)")
    return DetectorSpec.from_json(data, path)


def load_detector(folder: str | Path) -> tuple[keras.Model, DetectorSpec]:
    """Load a detector folder with Keras ``safe_mode=True`` (refuses embedded code).

    The compile state (optimizer, losses, metrics) is skipped: detection needs none of it.
    """
    import keras

    from . import layers, losses  # noqa: F401  registers the custom objects before loading

    folder = Path(folder)
    spec = load_spec(folder)
    try:
        model = keras.saving.load_model(str(folder / MODEL_FILE), compile=False, safe_mode=True)
    except (OSError, ValueError, TypeError) as exc:
        raise CacheError(folder / MODEL_FILE, f"cannot load model ({exc})") from None
    return model, spec
