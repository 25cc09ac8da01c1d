"""The rows of the paper's Tables 2-4: :class:`Experiment` (one row), the schedules, and every row by name.

A row's configuration is read here and nowhere else: :func:`rows_for` gives every row of a
schedule, :func:`experiment_for` the default one; ``rsed reproduce --rows`` and the scripts in
``experiments/`` name rows of this list.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..config import (
    ONSET_RULES,
    PAPER_FEATURES,
    PAPER_TIMESTEPS,
    AugmentConfig,
    BaselineFeatureConfig,
    BaselineModelConfig,
    BaselinePostprocessConfig,
    BaselineTrainConfig,
    FeatureConfig,
    ModelConfig,
    PostprocessConfig,
    ScoringConfig,
    TrainConfig,
    ValidationConfig,
    paper_postprocess,
)
from ..evaluation.scoring import ClassScore, class_average

ARCHITECTURES = ("crnn", "cnn", "fnn")



@dataclass(frozen=True)
class Experiment:
    """One row of the paper's Tables 2-4: an architecture, its timestep ensemble per class, its schedule.

    ``name`` labels the row in the tables; ``row`` names it on disk and on the command line
    (default: ``name`` in lower case); ``table`` is the paper table it belongs to ("2", "3"
    or "4"); ``classes`` restricts a per-class row (Tables 2 and 3) to its class, empty means
    every class of the data. The ``baseline_*`` settings are the FNN row's (NOTES section 5).
    """

    name: str = "CRNN"
    architecture: str = "crnn"
    timesteps: tuple[tuple[str, tuple[int, ...]], ...] = (("babycry", (5, 9, 50)), ("glassbreak", (3,)), ("gunshot", (3, 5)))
    default_timesteps: tuple[int, ...] = (5,)
    model: ModelConfig = ModelConfig()
    training: TrainConfig = TrainConfig()
    features: FeatureConfig = FeatureConfig()
    scoring: ScoringConfig = ScoringConfig()
    train_subset: str = "train"
    validation_subset: str = "devtrain"
    dev_subset: str = "devtest"
    test_subset: str = "evaltest"
    row: str = ""
    table: str = "4"
    classes: tuple[str, ...] = ()
    baseline_features: BaselineFeatureConfig = BaselineFeatureConfig()
    baseline_model: BaselineModelConfig = BaselineModelConfig()
    baseline_training: BaselineTrainConfig = BaselineTrainConfig()
    baseline_postprocess: BaselinePostprocessConfig = BaselinePostprocessConfig()
    #: Onset look-backs (s) tried per class on the validation subset (rsed/evaluation/lookback.py); empty:
    #: ``PostprocessConfig.lookback_seconds`` for every class.
    lookback_grid: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
    #: Onset rules (``PostprocessConfig.onset_rule``) tried per class with the look-backs; ties go to
    #: the one listed first. One rule fixes it (``rsed reproduce --onset-rule``).
    onset_rules: tuple[str, ...] = ONSET_RULES
    #: Training beyond the paper (issue 17): mixing on the fly, recording-chain and spectrogram augmentation.
    augment: AugmentConfig = AugmentConfig()
    #: The validation data: the paper's devtrain mixtures, or mixtures of held-out training recordings.
    validation: ValidationConfig = ValidationConfig()
    #: Presence thresholds t1 tried per class on the validation subset together with the look-back
    #: (rsed/evaluation/lookback.py); empty: the paper's t1.
    threshold_grid: tuple[float, ...] = ()
    #: Name of a training recipe other than the paper's (empty): its detectors live in
    #: ``models/<recipe>/`` and its prediction and estimate files carry the name, so rows of
    #: several recipes share a run folder without overwriting each other.
    recipe: str = ""
    #: The source split the training subset was mixed from: the sources of mixing on the fly and of held-out validation.
    source_split: str = "devtrain"
    #: ``TrainConfig`` fields this row sets over the schedule's ``training`` (an ablation, e.g.
    #: ``(("positive_fraction", 0.0), ("prior_correction", False))``): the run folder's identity keeps
    #: the shared ``training``, the row's detectors train with :attr:`row_training` and need a ``recipe``.
    training_changes: tuple[tuple[str, object], ...] = ()

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}; choose from {', '.join(ARCHITECTURES)}")
        if not self.onset_rules or any(r not in ONSET_RULES for r in self.onset_rules):
            raise ValueError(f"onset rules must be among {', '.join(ONSET_RULES)}, got {self.onset_rules}")
        if self.training_changes:
            if not self.recipe:
                raise ValueError(f"row {self.row_id!r} changes its training ({dict(self.training_changes)}) and needs a recipe to keep its detectors apart")
            unknown = sorted(set(dict(self.training_changes)) - {f.name for f in dataclasses.fields(TrainConfig)})
            if unknown:
                raise ValueError(f"unknown TrainConfig setting(s) in training_changes: {', '.join(unknown)}")

    @property
    def row_id(self) -> str:
        return self.row or self.name.lower()

    @property
    def row_training(self) -> TrainConfig:
        """The training this row's detectors get: ``training`` with the row's ``training_changes``."""
        return dataclasses.replace(self.training, **dict(self.training_changes)) if self.training_changes else self.training

    def timesteps_for(self, class_name: str) -> tuple[int, ...]:
        """The ensemble of a class (Table 2), or ``default_timesteps`` for a class the paper lacks."""
        return dict(self.timesteps).get(class_name, self.default_timesteps)

    def members(self, class_name: str) -> tuple[str, ...]:
        """Tags of the models averaged for a class: ``('t5', 't9', 't50')``, or ``('fnn',)``."""
        if self.architecture == "fnn":
            return ("fnn",)
        return tuple(f"t{t}" for t in self.timesteps_for(class_name))

    def postprocess_for(self, class_name: str) -> PostprocessConfig:
        return paper_postprocess(class_name)

    @property
    def beyond_paper(self) -> bool:
        """Whether the row trains or validates otherwise than the paper (its detectors' keys then say how)."""
        return self.augment != AugmentConfig() or self.validation != ValidationConfig() or bool(self.threshold_grid)


@dataclass
class RunResult:
    """Scores of one finished row: ``scores[subset][class]``, the run folder, or why the row was skipped."""

    out: Path
    classes: list[str]
    scores: dict[str, dict[str, ClassScore]] = field(default_factory=dict)
    row: str = ""
    skipped: str | None = None

    def averages(self, subset: str) -> tuple[float, float]:
        return class_average(list(self.scores[subset].values()))



#: One detector per class for the short demo schedule (the full Table 2 ensembles need the paper schedule).
SHORT_TIMESTEPS = (("babycry", (5,)), ("glassbreak", (3,)), ("gunshot", (5,)))

SCHEDULES = ("short", "paper")


def base_experiment(schedule: str) -> Experiment:
    """The shared settings of every row under ``schedule``: 'paper' (full training) or 'short' (demo data)."""
    from ..config import SHORT_BASELINE_TRAIN, SHORT_TRAIN

    if schedule == "paper":
        return Experiment(features=PAPER_FEATURES)
    if schedule == "short":
        return Experiment(training=SHORT_TRAIN, baseline_training=SHORT_BASELINE_TRAIN)
    raise ValueError(f"unknown schedule {schedule!r}; choose 'short' or 'paper'")


def paper_rows(schedule: str) -> dict[str, Experiment]:
    """Every row of Tables 3, 2 and 4 in the order ``make reproduce`` runs them.

    Table 3: one CRNN per class and tau (``crnn_<class>_t<tau>``); Table 2: each class's
    timestep ensemble (``ensemble_<class>``); Table 4: the CRNN, CNN and FNN rows over every
    class of the data.
    """
    base = base_experiment(schedule)
    rows: dict[str, Experiment] = {}
    for c, taus in PAPER_TIMESTEPS.items():
        for t in taus:
            row = f"crnn_{c}_t{t}"
            rows[row] = dataclasses.replace(base, name=f"CRNN {c} t{t}", row=row, table="3", classes=(c,), timesteps=((c, (t,)),))
    for c, taus in PAPER_TIMESTEPS.items():
        row = f"ensemble_{c}"
        rows[row] = dataclasses.replace(base, name=f"CRNN {c} ensemble", row=row, table="2", classes=(c,), timesteps=((c, tuple(taus)),))
    rows["crnn"] = dataclasses.replace(base, name="CRNN", row="crnn")
    rows["cnn"] = dataclasses.replace(base, name="CNN", row="cnn", architecture="cnn")
    rows["fnn"] = dataclasses.replace(base, name="FNN", row="fnn", architecture="fnn")
    return rows


#: The ablation of the imbalance handling (issue 18): natural sampling, no prior correction.
NATURAL_SAMPLING = (("positive_fraction", 0.0), ("prior_correction", False))


def extra_rows(schedule: str) -> dict[str, Experiment]:
    """The rows beyond the paper's tables.

    ``crnn_demo``: the demo's CRNN, one timestep model per class (:data:`SHORT_TIMESTEPS`).
    ``cnn_demo``: the CNN with the same timesteps, the like-for-like comparison with ``crnn_demo``.
    ``crnn_plus``: the project's recommended detector (issue 17): the CRNN with the training recipe
    of :data:`rsed.config.PLUS_AUGMENT`, validated on held-out recordings
    (:data:`rsed.config.PLUS_VALIDATION`) with t1 chosen there (:data:`rsed.config.PLUS_THRESHOLDS`);
    in the short schedule one timestep per class and twice the epochs
    (:data:`rsed.config.PLUS_SHORT_TRAINING`), in the paper's the Table 2 ensembles and the paper's
    epochs. Its detectors live in ``models/plus/`` (recipe "plus").
    ``crnn_natural``: a Table 3 ablation (issue 18): the schedule's CRNN (``crnn_demo`` in the short
    schedule, ``crnn`` in the paper's) trained on naturally sampled batches without prior
    correction (:data:`NATURAL_SAMPLING`); its detectors live in ``models/natural/``.
    """
    from ..config import PLUS_AUGMENT, PLUS_SHORT_TRAINING, PLUS_THRESHOLDS, PLUS_VALIDATION

    base = base_experiment(schedule)
    short = dict(timesteps=SHORT_TIMESTEPS, training_changes=PLUS_SHORT_TRAINING) if schedule == "short" else {}
    demo = dataclasses.replace(base, row="crnn_demo", timesteps=SHORT_TIMESTEPS)
    return {
        "crnn_demo": demo,
        "cnn_demo": dataclasses.replace(base, name="CNN", row="cnn_demo", architecture="cnn", timesteps=SHORT_TIMESTEPS),
        "crnn_plus": dataclasses.replace(
            base, name="CRNN+", row="crnn_plus", recipe="plus", augment=PLUS_AUGMENT, validation=PLUS_VALIDATION, threshold_grid=PLUS_THRESHOLDS, **short
        ),
        "crnn_natural": dataclasses.replace(
            demo if schedule == "short" else base,
            name="CRNN natural sampling",
            row="crnn_natural",
            table="3",
            recipe="natural",
            training_changes=NATURAL_SAMPLING,
        ),
    }


def rows_for(schedule: str) -> dict[str, Experiment]:
    """:func:`paper_rows` plus the rows beyond the paper (:func:`extra_rows`)."""
    return {**paper_rows(schedule), **extra_rows(schedule)}


def experiment_for(schedule: str) -> Experiment:
    """The default row of ``schedule``: 'paper' -> the CRNN row (Table 2 ensembles), 'short' -> ``crnn_demo``."""
    return rows_for(schedule)["crnn" if schedule == "paper" else "crnn_demo"]



def with_training_options(
    experiment: Experiment,
    *,
    strategy: str = "default",
    mixed_precision: bool = False,
    seed: int | None = None,
    positive_fraction: float | None = None,
    prior_correction: bool | None = None,
    onset_rule: str | None = None,
) -> Experiment:
    """``experiment`` with the options of the command line: the distribution strategy and precision
    (docs/training.md), the seed (None: the defaults; it seeds every detector of the row, the FNN's
    included), the share of event windows per batch and the prior correction (None: the
    schedule's), and a fixed onset rule (None: chosen on validation). They change the shared
    settings, so the run folder's identity; a row's own ``training_changes`` still apply over them."""
    changes = {"strategy": strategy, "mixed_precision": mixed_precision}
    if seed is not None:
        changes["seed"] = int(seed)
    if positive_fraction is not None:
        changes["positive_fraction"] = positive_fraction
    if prior_correction is not None:
        changes["prior_correction"] = prior_correction
    baseline = experiment.baseline_training if seed is None else dataclasses.replace(experiment.baseline_training, seed=int(seed))
    rules = (onset_rule,) if onset_rule is not None else experiment.onset_rules
    training = dataclasses.replace(experiment.training, **changes)
    return dataclasses.replace(experiment, training=training, baseline_training=baseline, onset_rules=rules)
