"""The embedded mini dataset: a small synthetic copy of the DCASE 2017 Task 2 *sources*.

:func:`generate_mini` writes, deterministically from a seed and in seconds, the development
set's source layout (NOTES section 2): ``data/source_data/bgs/<scene>/*.wav``,
``events/<class>/*.wav`` and the four ``cv_setup`` YAML files. The mixture synthesizer
(:mod:`rsed.data.mixing`) then runs on it exactly as on the real data.

The sounds are built to be a *fair* small copy of the task, not "noise plus a tone": a detector
must learn what a baby cry, a glass break or a gunshot sounds like, because the backgrounds hold
non-target sounds of the same broad kinds at comparable levels.

The backgrounds (six scenes of coloured noise, textures and non-target transients) are
described in :mod:`.backgrounds`, the target events in :mod:`.events`. Every file has its own
seeded random stream (:mod:`.tree`), so the output is byte-identical for a seed.

Modules: :mod:`.signals` (seeded generators, noise, filters), :mod:`.events` (the target
events), :mod:`.backgrounds` (scenes, textures, transients), :mod:`.tree` (the files on disk).
"""

from .backgrounds import SCENES, make_background
from .events import EVENT_SECONDS, make_event_file
from .tree import MARKER, MINI_VERSION, generate_mini

__all__ = ["generate_mini", "make_background", "make_event_file", "EVENT_SECONDS", "SCENES", "MINI_VERSION", "MARKER"]
