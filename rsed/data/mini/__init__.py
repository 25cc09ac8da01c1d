"""The embedded mini dataset: a small synthetic copy of the DCASE 2017 Task 2 *sources*.

:func:`generate_mini` writes, deterministically from a seed and in seconds, the development
set's source layout (NOTES section 2): ``data/source_data/bgs/<scene>/*.wav``,
``events/<class>/*.wav`` and the four ``cv_setup`` YAML files. The mixture synthesizer
(:mod:`rsed.data.mixing`) then runs on it exactly as on the real data.

The sounds are built to be a *fair* small copy of the task, not "noise plus a tone": a detector
must learn what a baby cry, a glass break or a gunshot sounds like, because the backgrounds hold
non-target sounds of the same broad kinds at comparable levels.

Its devtest differs from devtrain the way real unseen recordings do (version 4): held-out
families of event designs, a recording chain per event file (native rate, microphone, room,
distance, clipping, MP3) drawn from a harsher distribution in devtest, and held-out distractors
and scene variants in the devtest backgrounds (docs/interpretation.md, "The embedded mini dataset").

The backgrounds (six scenes of coloured noise, textures and non-target transients) are
described in :mod:`.backgrounds` and :mod:`.heldout`, the target events in :mod:`.events`.
Every file has its own seeded random stream (:mod:`.tree`), so the output is byte-identical for
a seed; ``source_data/mini_sources.json`` records each file's family, chain and scene variant.

Modules: :mod:`.signals` (seeded generators, noise, filters), :mod:`.events` (the target
events), :mod:`.backgrounds` (scenes, textures, transients), :mod:`.heldout` (what only devtest
backgrounds hold), :mod:`.tree` (the files on disk).
"""

from .backgrounds import SCENES, make_background
from .events import EVENT_SECONDS, FAMILIES, HELD_OUT_FAMILIES, make_event_file, split_families
from .tree import EVENT_CHAINS, MARKER, MINI_VERSION, SOURCES_FILE, generate_mini

__all__ = [
    "generate_mini",
    "make_background",
    "make_event_file",
    "split_families",
    "EVENT_SECONDS",
    "FAMILIES",
    "HELD_OUT_FAMILIES",
    "EVENT_CHAINS",
    "SCENES",
    "MINI_VERSION",
    "MARKER",
    "SOURCES_FILE",
]
