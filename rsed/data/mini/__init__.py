"""The embedded mini dataset: a small synthetic copy of the DCASE 2017 Task 2 *sources*.

:func:`generate_mini` writes, deterministically from a seed and in seconds, the development
set's source layout (NOTES section 2): ``data/source_data/bgs/<scene>/*.wav``,
``events/<class>/*.wav`` and the four ``cv_setup`` YAML files. The mixture synthesizer
(:mod:`rsed.data.mixing`) then runs on it exactly as on the real data.

The sounds are built to be a *fair* small copy of the task, not "noise plus a tone": a detector
must learn what a baby cry, a glass break or a gunshot sounds like, because the backgrounds hold
non-target sounds of the same broad kinds at comparable levels.

Backgrounds (six scenes: cafe, home, office, park, street, train) layer coloured noise with a
slowly varying level, scene textures (mains hum, traffic swells and passing cars, wind, engine
harmonics and rail clacks, multi-talker babble with syllable-rate modulation and formants, bird
chirps) and scattered non-target transients: knocks, footsteps, claps and door thuds (impulsive,
no long tail), keyboard clicks, beeps, horns and whistles (steady harmonic tones, no vibrato),
speech-like vowels (f0 100-250 Hz, falling contour, no vibrato), clinks (short high tones
without a broadband onset) and espresso hiss. Each file gets its own overall level.

Events (the annotated segment inside each file, with a 0.1-0.5 s low-level lead-in and tail):

- ``babycry`` (1-4 s): cry bursts separated by short gaps and inhalations; harmonic source with
  a base f0 of 300-500 Hz that rises and falls by 10-35 % within each burst, 5-8 Hz vibrato,
  formant-like resonances and breath noise.
- ``glassbreak`` (0.5-2 s): a sharp broadband crash of a few ms, sparse inharmonic ringing
  partials between 2 and 12 kHz with individual exponential decays, then tinkling fragments.
- ``gunshot`` (0.3-2 s): an N-wave crack, a broadband blast and a low boom with fast decays,
  early reflections and a reverberant low-passed noise tail; sometimes two or three shots.

Every file has its own random stream (:class:`numpy.random.SeedSequence` keyed by the seed, the
split, the kind and the index), so the output is byte-identical for a seed, ``devtrain`` and
``devtest`` sources are different draws, and file *i* does not change when the counts change.

Modules: :mod:`.signals` (seeded generators, noise, filters), :mod:`.events` (the target
events), :mod:`.backgrounds` (scenes, textures, transients), :mod:`.tree` (the files on disk).
"""

from .backgrounds import SCENES, make_background
from .events import EVENT_SECONDS, make_event_file
from .tree import MARKER, MINI_VERSION, generate_mini

__all__ = ["generate_mini", "make_background", "make_event_file", "EVENT_SECONDS", "SCENES", "MINI_VERSION", "MARKER"]
