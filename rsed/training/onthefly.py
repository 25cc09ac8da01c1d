"""Mixing on the fly: every epoch trains on new mixtures drawn from the training *sources*.

The paper names synthetic mixtures as its key augmentation ("data augmentation using
synthetically created mixtures"); a fixed training subset uses each event a few times, in a few
places, over a few backgrounds. :class:`MixingSampler` draws, for every epoch, fresh clips by the
recipe of NOTES section 3 (a background, with probability ``presence`` one event of the class at
a uniform offset, scaled to an event-to-background ratio, times the anti-clipping factor), each
source optionally through a random recording chain first (:mod:`rsed.training.augment`), computes their
log-mel features and serves batches of windows exactly as :class:`rsed.features.windows.WindowSampler`
does (same balance rule). Deterministic in (seed, epoch, clip): a resumed training sees the
same clips.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..config import FeatureConfig
from ..data.layout import SourceSplit
from ..data.mixing import AudioCache, fit_length, mix
from ..features import frame_labels, logmel, to_steps
from ..features.windows import StepSequence, WindowSampler
from .augment import augment_background, augment_event, augment_mixture


class SourcePool:
    """The sources of one class (its event segments and every background) as float32 at ``sample_rate``.

    Loaded when first used and kept in least-recently-used caches of at most ``max_mb`` MB each
    for events and backgrounds, so a real training split (hundreds of 30 s backgrounds) never
    has to fit in memory.
    """

    def __init__(self, split: SourceSplit, class_name: str, sample_rate: int, max_mb: int = 512):
        self.sample_rate = int(sample_rate)
        self.split, self.class_name = split, class_name
        self.events = split.events[class_name]
        self.backgrounds = split.backgrounds
        self._events = AudioCache(self.sample_rate, max_mb * 2**20)
        self._backgrounds = AudioCache(self.sample_rate, max_mb * 2**20)

    def event(self, i: int) -> np.ndarray:
        """The annotated segment of event ``i`` (samples)."""
        source = self.events[i]
        y = self._events.get(source.path)
        start = int(round(source.segment[0] * self.sample_rate))
        end = int(round(source.segment[1] * self.sample_rate))
        return y[start:end]

    def background(self, i: int) -> np.ndarray:
        """Background ``i`` (samples)."""
        return self._backgrounds.get(self.backgrounds[i].path)


@dataclass(frozen=True)
class ClipRecipe:
    """How a training clip is drawn: length (s), event presence probability, EBR range (dB), anti-clipping factor."""

    seconds: float = 30.0
    presence: float = 0.5
    ebr_range: tuple[float, float] = (-6.0, 6.0)
    anti_clipping_factor: float = 0.2
    augment: bool = True
    #: Probability that a source (event, background) or the mixture goes through its random chain.
    chain_prob: float = 1.0
    gain_db: tuple[float, float] = (-10.0, 6.0)
    #: Probability that a clip as a whole is band-limited or MP3-coded (:func:`augment_mixture`), chains or not.
    mixture_prob: float = 0.0


def render_clip(pool: SourcePool, recipe: ClipRecipe, rng: np.random.Generator) -> tuple[np.ndarray, float | None, float | None]:
    """One training clip: samples and the event's onset and offset (s), None without an event."""
    sr = pool.sample_rate
    n = int(round(recipe.seconds * sr))
    bg = pool.background(int(rng.integers(len(pool.backgrounds))))
    start = int(rng.integers(0, max(1, bg.size - n + 1)))
    background = fit_length(np.asarray(bg[start:], dtype=np.float64), n)
    u = rng.random(4)  # whether the background, the event, the mixture's level and the whole clip are augmented
    if recipe.augment and u[0] < recipe.chain_prob:
        background = augment_background(background, sr, rng)
    onset = offset = None
    event = None
    if rng.random() < recipe.presence:
        event = np.asarray(pool.event(int(rng.integers(len(pool.events)))), dtype=np.float64)[:n]
        if recipe.augment and u[1] < recipe.chain_prob:
            event = augment_event(event, sr, rng)
        position = int(round((n - event.size) * rng.random()))
        onset, offset = position / sr, (position + event.size) / sr
    ebr = float(rng.uniform(*recipe.ebr_range))
    try:
        y, _ = mix(background, event, position if event is not None else 0, ebr, recipe.anti_clipping_factor)
    except ValueError:  # a silent background under the event: use the clip without it
        y, _ = mix(background, None, anti_clipping_factor=recipe.anti_clipping_factor)
        onset = offset = None
    if recipe.augment and u[2] < recipe.chain_prob:
        y = y * 10.0 ** (rng.uniform(*recipe.gain_db) / 20.0)
    if u[3] < recipe.mixture_prob:
        y = augment_mixture(y, sr, rng)
    return y, onset, offset


class MixingSampler:
    """Training batches of windows from clips mixed anew for every epoch; interface of :class:`rsed.features.windows.WindowSampler`.

    ``mean``/``std`` [n_mels] normalise the features; ``natural_rate`` is the event-step share of
    the data the detector will be applied to (for the prior correction; by default that of the
    first epoch's clips). The next epoch's clips are rendered in a background thread while the
    current one trains.
    """

    def __init__(
        self,
        pool: SourcePool,
        tau: int,
        features: FeatureConfig,
        mean,
        std,
        *,
        clips_per_epoch: int = 60,
        recipe: ClipRecipe = ClipRecipe(),
        positive_fraction: float = 0.3,
        seed: int = 0,
        natural_rate: float | None = None,
    ):
        self.pool, self.tau, self.features = pool, tau, features
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self.clips_per_epoch, self.recipe = clips_per_epoch, recipe
        self.positive_fraction, self.seed = positive_fraction, seed
        self._epochs: dict[int, WindowSampler] = {}
        self._building: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()
        first = self._sampler(0)
        self.index = _Rates(first.index, natural_rate)

    @property
    def window_shape(self) -> tuple[int, int, int]:
        return (self.tau, self.features.frames_per_step, self.features.n_mels)

    def clip(self, epoch: int, k: int) -> StepSequence:
        """Clip ``k`` of ``epoch`` as normalised steps and step labels."""
        rng = np.random.default_rng([self.seed, epoch, k, 17])
        y, onset, offset = render_clip(self.pool, self.recipe, rng)
        frames = logmel(y.astype(np.float32), self.features)
        labels = frame_labels(frames.shape[0], onset, offset, self.features)
        steps, step_labels = to_steps((frames - self.mean) / self.std, labels, self.features.frames_per_step)
        return StepSequence(f"epoch{epoch}_clip{k}", np.ascontiguousarray(steps, np.float32), step_labels)

    def _build(self, epoch: int) -> WindowSampler:
        clips = [self.clip(epoch, k) for k in range(self.clips_per_epoch)]
        return WindowSampler(clips, self.tau, positive_fraction=self.positive_fraction, seed=self.seed + 7919 * epoch)

    def _sampler(self, epoch: int) -> WindowSampler:
        with self._lock:
            ready = self._epochs.get(epoch)
            thread = self._building.get(epoch)
        if ready is None:
            if thread is not None:
                thread.join()
            with self._lock:
                ready = self._epochs.get(epoch)
            if ready is None:
                ready = self._build(epoch)
                with self._lock:
                    self._epochs[epoch] = ready
        self._prefetch(epoch + 1)
        with self._lock:
            for old in [e for e in self._epochs if e < epoch - 1]:
                del self._epochs[old]
        return ready

    def _prefetch(self, epoch: int) -> None:
        with self._lock:
            if epoch in self._epochs or epoch in self._building:
                return

            def work():
                sampler = self._build(epoch)
                with self._lock:
                    self._epochs[epoch] = sampler
                    self._building.pop(epoch, None)

            thread = threading.Thread(target=work, daemon=True, name=f"rsed-mix-epoch{epoch}")
            self._building[epoch] = thread
        thread.start()

    def batch(self, batch_size: int, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self._sampler(epoch).batch(batch_size, epoch, index)

    def close(self) -> None:
        for thread in list(self._building.values()):
            thread.join()


@dataclass(frozen=True, eq=False)
class OnTheFly:
    """Training data mixed on the fly from ``pool``: what :func:`rsed.training.train_detector` takes as ``train``."""

    pool: SourcePool
    features: FeatureConfig
    mean: tuple
    std: tuple
    recipe: ClipRecipe
    clips_per_epoch: int
    natural_rate: float | None = None

    def __len__(self) -> int:
        return self.clips_per_epoch

    def make_sampler(self, tau: int, config) -> MixingSampler:
        return MixingSampler(
            self.pool, tau, self.features, self.mean, self.std,
            clips_per_epoch=self.clips_per_epoch, recipe=self.recipe,
            positive_fraction=config.positive_fraction, seed=config.seed, natural_rate=self.natural_rate,
        )


class _Rates:
    """The event-step rates the prior correction needs: the first epoch's sampling, and the data's natural rate."""

    def __init__(self, index, natural_rate: float | None):
        self._index = index
        self.natural_rate = index.natural_rate if natural_rate is None else float(natural_rate)

    def sampled_rate(self, batch_size: int) -> float:
        return self._index.sampled_rate(batch_size)

    @property
    def n_windows(self) -> int:
        """Windows of the first epoch's clips (every epoch mixes as many clips of the same length)."""
        return self._index.n_windows


__all__ = ["SourcePool", "ClipRecipe", "render_clip", "MixingSampler", "OnTheFly"]
