"""Training augmentation: recording chains on sources before mixing, and spectrogram masking.

Detectors trained on a few hundred recordings learn the recordings: their room, microphone,
bandwidth and codec, as much as the class (issue 17). :func:`augment_event`,
:func:`augment_background` and :func:`augment_mixture` put each training use of a source through
a freshly drawn recording chain (:mod:`rsed.data.chain`), so the only thing every use of an event
shares is the sound itself. The profiles are generic ranges of what real recordings go
through, not a copy of any test set. :func:`spec_augment` masks time and frequency stripes and
shifts bands on normalised log-mel windows (SpecAugment, Park et al. 2019).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.chain import ChainProfile, RecordingChain, apply_chain, band_limit, draw_chain, mp3_round_trip

#: Chains for an event before mixing: any rate from telephone to studio, rooms up to 1.2 s, mics, distance, clipping.
EVENT_AUGMENT = ChainProfile(
    rates=(8000, 11025, 16000, 22050, 32000, 44100),
    rate_weights=(0.08, 0.07, 0.15, 0.15, 0.1, 0.45),
    eq_prob=0.8, eq_bands=(1, 4), eq_gain_db=10.0, low_cut_prob=0.4, low_cut_hz=(50.0, 500.0),
    reverb_prob=0.5, rt60=(0.1, 1.2), drr_db=(-3.0, 15.0), air_prob=0.3, air_cutoff=(2000.0, 12000.0),
    gain_db=(0.0, 0.0), clip_prob=0.08, clip_level=(0.3, 0.8), mp3_prob=0.0,
)
#: Milder chains for a background excerpt (the ambience is recorded by the same device as the mixture).
BACKGROUND_AUGMENT = ChainProfile(
    rates=(16000, 22050, 44100), rate_weights=(0.05, 0.05, 0.9),
    eq_prob=0.5, eq_bands=(1, 2), eq_gain_db=6.0, low_cut_prob=0.2, low_cut_hz=(50.0, 200.0),
)
#: Rates a whole mixture is band-limited to (a phone, a 16 kHz sensor, a 22 kHz file), and the
#: share of augmented mixtures that are MP3-coded instead.
MIXTURE_RATES = (8000, 16000, 22050)
MIXTURE_MP3_SHARE = 0.25


def augment_event(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """``y`` through a random :data:`EVENT_AUGMENT` chain, back at ``sr`` and the same length."""
    chain = draw_chain(rng, EVENT_AUGMENT)
    return _at_rate(apply_chain(y, sr, chain, rng), chain, sr, y.size)


def augment_background(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """``y`` through a random :data:`BACKGROUND_AUGMENT` chain, back at ``sr`` and the same length."""
    chain = draw_chain(rng, BACKGROUND_AUGMENT)
    return _at_rate(apply_chain(y, sr, chain, rng), chain, sr, y.size)


def augment_mixture(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A whole clip as a band-limited recording (:data:`MIXTURE_RATES`) or, for :data:`MIXTURE_MP3_SHARE`
    of the clips, MP3-coded; same rate and length."""
    u = rng.random(2)
    if u[0] < MIXTURE_MP3_SHARE:
        return mp3_round_trip(y, sr, float(0.3 + 0.65 * u[1]))
    rate = int(MIXTURE_RATES[int(u[1] * len(MIXTURE_RATES))])
    return _resize(band_limit(band_limit(y, sr, rate), rate, sr), y.size)


def _at_rate(y: np.ndarray, chain: RecordingChain, sr: int, n: int) -> np.ndarray:
    return _resize(band_limit(y, chain.native_rate, sr), n)


def _resize(y: np.ndarray, n: int) -> np.ndarray:
    """``y`` cut or zero-padded to ``n`` samples (resampling may be off by a sample)."""
    if y.size >= n:
        return y[:n]
    return np.concatenate([y, np.zeros(n - y.size)])


@dataclass(frozen=True)
class SpecAugment:
    """Masks on normalised log-mel windows: ``time_masks`` stripes of up to ``time_width`` frames,
    ``freq_masks`` of up to ``freq_width`` bands (set to 0, the training mean), and a shift of up
    to ``max_shift`` bands (edge-padded)."""

    time_masks: int = 1
    time_width: int = 4
    freq_masks: int = 2
    freq_width: int = 12
    max_shift: int = 3


def spec_augment(x: np.ndarray, rng: np.random.Generator, config: SpecAugment) -> np.ndarray:
    """Mask and shift a batch of windows ``x [B, tau, F, M]`` (or ``[B, tau, F, M, 1]``) in place; returns ``x``."""
    b, tau, f, m = x.shape[:4]
    frames = x.reshape(b, tau * f, m, *x.shape[4:])
    for k in range(b):
        shift = int(rng.integers(-config.max_shift, config.max_shift + 1)) if config.max_shift else 0
        if shift > 0:
            frames[k, :, shift:] = frames[k, :, :-shift].copy()
            frames[k, :, :shift] = frames[k, :, shift : shift + 1]
        elif shift < 0:
            frames[k, :, :shift] = frames[k, :, -shift:].copy()
            frames[k, :, shift:] = frames[k, :, shift - 1 : shift]
        for _ in range(config.freq_masks):
            width = int(rng.integers(0, config.freq_width + 1))
            start = int(rng.integers(0, max(1, m - width)))
            frames[k, :, start : start + width] = 0.0
        for _ in range(config.time_masks):
            width = int(rng.integers(0, config.time_width + 1))
            start = int(rng.integers(0, max(1, tau * f - width)))
            frames[k, start : start + width] = 0.0
    return x


class SpecAugmented:
    """A batch source whose batches are masked by :func:`spec_augment` (deterministic in seed, epoch, batch)."""

    def __init__(self, sampler, spec: SpecAugment, seed: int):
        self.sampler, self.spec, self.seed = sampler, spec, seed
        self.index = sampler.index

    @property
    def window_shape(self):
        return self.sampler.window_shape

    def batch(self, batch_size: int, epoch: int, index: int):
        x, y = self.sampler.batch(batch_size, epoch, index)
        return spec_augment(x, np.random.default_rng([self.seed, epoch, index, 29]), self.spec), y

    def close(self) -> None:
        self.sampler.close()


__all__ = ["SpecAugmented", "EVENT_AUGMENT", "BACKGROUND_AUGMENT", "SpecAugment", "augment_event", "augment_background", "augment_mixture", "spec_augment"]
