"""Our implementation of the DCASE 2017 Task 2 mixture recipe (NOTES section 3).

Three steps, each usable alone:

1. :func:`make_recipes` draws, per class, which mixtures hold an event, which event and
   background, where the event goes and at which event-to-background ratio (EBR). Recipes are
   plain dictionaries (YAML-able) whose times are quantised to whole samples, so the event list
   written from them matches the audio exactly.
2. :func:`mix` is the pure mixing function: scale the event to the EBR against the part of the
   background it overlaps, add, multiply by the anti-clipping factor, normalise if the peak
   reaches 1.
3. :func:`synthesize` reads a source split, renders every recipe to 24-bit WAV and writes the
   layout of :mod:`rsed.data.layout`, resumably.

Notes
-----
Choices the official synthesizer leaves open or that we made differently
(``docs/interpretation.md``):

- Events and backgrounds are drawn in shuffled passes over the source list (every source is
  used once before any is used twice), not independently with replacement, so small source
  sets are covered evenly.
- An event segment longer than the mixture is truncated to the mixture length (the recipe
  says ``event_truncated: true``); its event-list offset is the mixture end.
- A background shorter than the mixture is repeated from its start (tiled); a longer one is cut
  to the mixture length (its first samples are used).
- A digitally silent background under the event (RMS below ``SILENCE_RMS``) or a silent event
  makes the EBR undefined: :func:`mix` raises ``ValueError`` and :func:`synthesize` turns it
  into a :class:`~rsed.errors.DataError` naming both files. No floor is applied.
- When the mixture's peak reaches 1 it is scaled to peak ``PEAK_LIMIT`` (just below 1, the
  largest 24-bit sample), so 24-bit writing never clips.
"""

from .recipes import MIXER_VERSION, make_recipes, mixture_param_hash, mixture_parameters, recipe_event, relative_to_root
from .render import PEAK_LIMIT, SILENCE_RMS, AudioCache, fit_length, mix, realised_ebr, render_recipe, synthesize

__all__ = [
    "MIXER_VERSION",
    "AudioCache",
    "PEAK_LIMIT",
    "SILENCE_RMS",
    "make_recipes",
    "mix",
    "realised_ebr",
    "fit_length",
    "render_recipe",
    "recipe_event",
    "relative_to_root",
    "mixture_parameters",
    "mixture_param_hash",
    "synthesize",
]
