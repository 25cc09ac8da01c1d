"""Band-limit check (issue 17): false alarms on event-free devtest clips, as they are and band-limited or MP3-coded.

Usage: ``python benchmarks/check_band_limit.py [--run demo/run] [--clips 24]``. Reads a finished
run folder (``make demo``'s by default) and its data root, takes ``--clips`` event-free devtest
mixtures (spread over the classes), and applies every class's detectors of the paper's recipe
(``RUN/models``) and of the recommended one (``RUN/models/plus``, row ``crnn_plus``) to each clip as
it is, resampled to 16 kHz and to 8 kHz (and back), and MP3-coded
(:data:`rsed.evaluation.robustness.TRANSFORMS`). Prints the detections per clip (all classes'
detectors together) for each recipe and transform, then
``band_limit: excess=X (target 0.05)``: the largest increase over the originals for ``crnn_plus``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

TARGET = 0.05


def empty_clips(root: Path, n: int) -> list[Path]:
    """Up to ``n`` event-free devtest mixtures, taken in turn from each class's subset."""
    from rsed.data.layout import find_mixture_sets

    per_class = []
    for mset in sorted(find_mixture_sets(root, "devtest"), key=lambda m: m.class_name):
        per_class.append([mset.audio_dir / e.filename for e in mset.events() if not e.has_event])
    clips = []
    for i in range(max((len(c) for c in per_class), default=0)):
        clips.extend(c[i] for c in per_class if i < len(c))
    return clips[:n]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="demo/run", help="a finished run folder holding models/ and models/plus/ (default: demo/run)")
    parser.add_argument("--clips", type=int, default=24, help="event-free devtest clips to use (default: 24)")
    args = parser.parse_args(argv)

    from rsed.evaluation.robustness import TRANSFORMS, false_alarm_rates
    from rsed.inference.detect import load_detectors

    run = Path(args.run)
    config = json.loads((run / "run.json").read_text())["config"]
    clips = empty_clips(Path(config["root"]), args.clips)
    # named, not by folder: rsed detect's default for a models folder holding models/plus is the plus recipe
    recipes = {"paper (crnn_demo)": "paper", "plus (crnn_plus)": "plus"}
    table, per_class = {}, {}
    for label, recipe in recipes.items():
        rates = false_alarm_rates(load_detectors(run / "models", architecture="crnn", recipe=recipe), clips)
        table[label] = {t: sum(r.fired for r in rates if r.transform == t) / len(clips) for t in TRANSFORMS}
        for r in rates:
            per_class.setdefault(f"  {recipe} {r.class_name}", {})[r.transform] = r.per_clip
    print(f"detections per event-free devtest clip ({len(clips)} clips, every class's detectors together; then each class's)")
    print(f"{'recipe':20s}" + "".join(f"{t:>10s}" for t in TRANSFORMS))
    for label, row in {**table, **per_class}.items():
        print(f"{label:20s}" + "".join(f"{row[t]:10.2f}" for t in TRANSFORMS))
    plus = table["plus (crnn_plus)"]
    excess = max(plus[t] - plus["original"] for t in TRANSFORMS)
    print(f"band_limit: excess={excess:.2f} (target {TARGET:g})")
    return {"table": table, "excess": excess, "ok": excess <= TARGET}


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
