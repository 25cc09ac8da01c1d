"""``rsed detect``: the paper's decisions on any recording with a run's detectors, and its Figure 4 picture."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RsedError
from .common import Reported

if TYPE_CHECKING:  # annotations only: the command imports its stages when it runs
    from ..inference.detect import DetectionRow, Ensemble, FileProbabilities


def run_detect(args) -> None:
    """``rsed detect``: one decision per file (or per ``--segment-seconds``), as DCASE lines or JSON; ``--plot`` the Figure 4 picture."""
    from ..inference.detect import dcase_lines, decide, file_probabilities, load_detectors

    if args.segment_seconds is not None and not args.segment_seconds > 0:
        raise RsedError(None, f"--segment-seconds must be positive, got {args.segment_seconds}")
    files = [Path(f) for f in args.files]
    several = len(files) > 1
    if args.plot and several:
        stems = [f.stem for f in files]
        clashes = sorted({s for s in stems if stems.count(s) > 1})
        if clashes:
            raise RsedError(Path(args.plot), f"several inputs are named {', '.join(clashes)}; their plots would overwrite each other")
    ensembles = load_detectors(Path(args.models), classes=args.classes, architecture=args.architecture, timesteps=args.timesteps)
    rows, failed = [], []
    for path in progress(files, len(files), "detecting"):
        try:
            result = file_probabilities(path, ensembles)
        except RsedError as exc:
            print(f"rsed: error: {exc}", file=sys.stderr)
            failed.append(path)
            continue
        found = decide(result, ensembles, args.segment_seconds, name=str(path))
        rows.extend(found)
        if args.plot:
            plot_file(result, found, ensembles, plot_path(args.plot, path, several))
    if args.json:
        print(json.dumps([r.to_json() for r in rows], indent=2))
    else:
        for line in dcase_lines(rows):
            print(line)
    if failed and len(files) > 1:
        raise RsedError(None, f"{len(failed)} of {len(files)} file(s) could not be processed (see above)")
    if failed:
        raise Reported()


def plot_path(target: str | Path, audio: Path, several: bool) -> Path:
    """Where ``--plot target`` puts the figure of ``audio``: ``target`` itself for one file, unless
    ``target`` is a folder (existing, or written with a trailing slash) or there are several
    files; then ``target/<audio stem>.png`` (the folder is created)."""
    folder = several or Path(target).is_dir() or str(target).endswith(("/", os.sep))
    return Path(target) / f"{Path(audio).stem}.png" if folder else Path(target)


def plot_file(result: FileProbabilities, rows: list[DetectionRow], ensembles: dict[str, Ensemble], path: str | Path) -> Path:
    """Save the Figure 4 picture of one recording: one probability panel per class above its log-mel."""
    from ..evaluation.plots import Panel, detection_figure, save_png

    panels = []
    for class_name, ensemble in sorted(ensembles.items()):
        onsets = tuple(r.onset for r in rows if r.class_name == class_name and r.onset is not None)
        post = ensemble.postprocess
        panels.append(Panel(class_name, result.probabilities[class_name], post.presence_threshold, post.onset_threshold, None, onsets))
    fig = detection_figure(panels, result.features.step_seconds, result.logmel, frame_seconds=result.features.frame_seconds, title=result.path.name)
    try:
        return save_png(fig, path)
    except OSError as exc:
        raise RsedError(path, f"cannot write the plot ({exc.strerror or exc})") from None


def progress(iterable, total: int, desc: str):
    """A tqdm bar on stderr when it is a terminal and there is more than one item; the iterable itself otherwise."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="file", disable=not (total > 1 and sys.stderr.isatty()))
